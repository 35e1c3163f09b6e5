"""Masks (§3.1, §3.2.3).

**Convention, used everywhere in this package:** a mask is a boolean tensor in
which ``True`` means "this query may attend to this key", as in
:func:`torch.nn.functional.scaled_dot_product_attention`. Masks broadcast
against attention scores of shape ``(B, h, T_q, T_k)``.

A query row whose keys are all masked (for example a source made only of
padding) gets attention weights of zero and therefore an output of zero:
defined and finite, never NaN and never uniform.
"""

from __future__ import annotations

import torch
from torch import Tensor


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """Keys that are real tokens, for encoder self-attention and
    cross-attention.

    Shape: tokens (B, S) -> mask (B, 1, 1, S).
    """
    return (tokens != pad_id)[:, None, None, :]


def causal_mask(
    q_len: int, k_len: int | None = None, device: torch.device | None = None
) -> Tensor:
    """Query i may attend to key j iff j <= i + (k_len - q_len) (decoder
    self-attention, §3.2.3).

    With ``k_len > q_len`` the queries are the last ``q_len`` positions of the
    keys, as in cached decoding. Shape: (q_len, k_len).
    """
    k_len = q_len if k_len is None else k_len
    offset = k_len - q_len
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(
        diagonal=offset
    )
