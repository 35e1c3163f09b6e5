"""Scaled dot-product attention (Eq. 1, §3.2.1) and multi-head attention
(§3.2.2).

Shapes: B batch, h heads, T_q / T_k query / key lengths, d_k / d_v per-head
sizes, D = d_model. Masks follow the convention of :mod:`transformer.masks`
(bool, True = may attend).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer.masks import causal_mask
from transformer.rope import RotaryEmbedding
from transformer.scoring import Scoring, make_scoring


def _attended_in_float32(q: Tensor) -> bool:
    """bf16/fp16 heads on the CPU: both attention paths compute them in
    float32 and cast the output back (see :func:`fast_attention`)."""
    return q.device.type == "cpu" and q.dtype in (
        torch.bfloat16,
        torch.float16,
    )


def _in_float32(
    fn: Callable, q: Tensor, k: Tensor, v: Tensor, *args: Any, **kwargs: Any
) -> Any:
    """``fn`` (an attention path) on float32 copies of q, k, v, outside the
    CPU autocast that would send its products back to bf16."""
    with torch.autocast("cpu", enabled=False):
        return fn(q.float(), k.float(), v.float(), *args, **kwargs)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    scoring: nn.Module | None = None,
) -> tuple[Tensor, Tensor]:
    """Eq. (1): softmax(Q K^T / sqrt(d_k)) V, written out so that the weights
    can be returned.

    Args:
        q: (B, h, T_q, d_k); k: (B, h, T_k, d_k); v: (B, h, T_k, d_v).
        mask: bool, broadcastable to (B, h, T_q, T_k), True = may attend.
        is_causal: add the causal mask of
            :func:`transformer.masks.causal_mask`.
        dropout_p: dropout on the attention weights.
        scoring: scores from (q, k) other than Eq. (1)'s, a module of
            :mod:`transformer.scoring`.

    Returns:
        output (B, h, T_q, d_v) and weights (B, h, T_q, T_k). Fully masked rows
        have zero weights. On the CPU, bf16/fp16 inputs are attended in
        float32: the output is cast back, the weights stay float32.
    """
    if _attended_in_float32(q):
        # As fast_attention: on the CPU, bf16/fp16 inputs are attended in
        # float32 (scores, softmax, weighted sum) and the output cast back, so
        # that every scoring function runs at the precision the paper's scaled
        # dot product runs at through the fused kernel.
        out, weights = _in_float32(
            attention,
            q,
            k,
            v,
            mask,
            is_causal=is_causal,
            dropout_p=dropout_p,
            scoring=scoring,
        )
        return out.to(q.dtype), weights
    if scoring is None:  # Eq. (1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    else:  # another scoring function (transformer.scoring)
        scores = scoring(q, k)  # (B, h, T_q, T_k)
    mask = _with_causal(mask, is_causal, q.size(-2), k.size(-2), q.device)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        # A row with every key masked is all -inf and softmax gives NaN; define
        # it as zero weights.
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights


def fast_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    is_causal: bool = False,
    dropout_p: float = 0.0,
) -> Tensor:
    """Eq. (1) through PyTorch's fused kernels; same arguments and result as
    :func:`attention`.

    On the CPU, bf16/fp16 inputs are attended in float32 and the output cast
    back: PyTorch's CPU flash-attention kernel with a mask is about 3x slower
    in bf16 than in fp32 (its backward most), measured by
    ``benchmarks/bench_attention_cpu.py``. Attention's own products are a small
    share of the model's FLOPs at these lengths, so doing them in float32 costs
    little, and it is the more accurate of the two.
    """
    if _attended_in_float32(q):
        out = _in_float32(
            fast_attention,
            q,
            k,
            v,
            mask,
            is_causal=is_causal,
            dropout_p=dropout_p,
        )
        return out.to(q.dtype)
    if mask is None and (not is_causal or q.size(-2) == k.size(-2)):
        # SDPA's is_causal aligns the mask top-left; ours (causal_mask)
        # bottom-right. They agree only when T_q = T_k.
        return F.scaled_dot_product_attention(
            q, k, v, is_causal=is_causal, dropout_p=dropout_p
        )
    mask = _with_causal(mask, is_causal, q.size(-2), k.size(-2), q.device)
    assert mask is not None
    # (.., T_q, 1) rows with nothing to attend to
    empty = ~mask.any(dim=-1, keepdim=True)
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask | empty, dropout_p=dropout_p
    )
    return out.masked_fill(empty, 0.0)


def _with_causal(
    mask: Tensor | None,
    is_causal: bool,
    q_len: int,
    k_len: int,
    device: torch.device,
) -> Tensor | None:
    if not is_causal:
        return mask
    causal = causal_mask(q_len, k_len, device=device)
    return causal if mask is None else mask & causal


def head_dim(d_model: int, n_heads: int, given: int | None = None) -> int:
    """d_k (or d_v) of a head: ``given``, else d_model / h as in §3.2.2 ("we
    use d_k = d_v = d_model/h = 64")."""
    return given if given is not None else d_model // n_heads


class MultiHeadAttention(nn.Module):
    """§3.2.2: MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O, head_i =
    Attention(Q W_i^Q, K W_i^K, V W_i^V).

    The h per-head projections are stored as one matrix each for Q, K and V
    (the usual, equivalent layout), of shapes (D, h d_k), (D, h d_k) and (D, h
    d_v); W^O is (h d_v, D).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_k: int | None = None,
        d_v: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        rope: RotaryEmbedding | None = None,
        scoring: Scoring = "scaled_dot",
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_k = head_dim(d_model, n_heads, d_k)
        self.d_v = head_dim(d_model, n_heads, d_v)
        self.dropout = dropout
        self.w_q = nn.Linear(d_model, n_heads * self.d_k, bias=bias)
        self.w_k = nn.Linear(d_model, n_heads * self.d_k, bias=bias)
        self.w_v = nn.Linear(d_model, n_heads * self.d_v, bias=bias)
        self.w_o = nn.Linear(n_heads * self.d_v, d_model, bias=bias)
        # RoPE (after the paper): rotates queries and keys by their positions
        self.rope = rope
        # Eq. (1) by default; another scoring function (§3.2.1) on request
        self.scoring = (
            None
            if scoring == "scaled_dot"
            else make_scoring(scoring, n_heads, self.d_k)
        )

    def _split(self, x: Tensor, d: int) -> Tensor:
        b, t, _ = x.shape
        # (B, T, h*d) -> (B, h, T, d)
        return x.view(b, t, self.n_heads, d).transpose(1, 2)

    def project_query(self, query: Tensor, offset: int | Tensor = 0) -> Tensor:
        """(B, T_q, D) -> (B, h, T_q, d_k); with RoPE, rotated as positions
        ``offset``, ``offset + 1``, ..."""
        q = self._split(self.w_q(query), self.d_k)
        return q if self.rope is None else self.rope(q, offset)

    def project_kv(
        self, key: Tensor, value: Tensor, offset: int | Tensor = 0
    ) -> tuple[Tensor, Tensor]:
        """(B, T_k, D) -> (B, h, T_k, d_k) and (B, h, T_k, d_v); cached
        decoding stores these (keys already rotated, with RoPE)."""
        k = self._split(self.w_k(key), self.d_k)
        if self.rope is not None:
            k = self.rope(k, offset)
        return k, self._split(self.w_v(value), self.d_v)

    def attend(
        self,
        query: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None = None,
        *,
        is_causal: bool = False,
        need_weights: bool = False,
        offset: int | Tensor = 0,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` (B, T_q, D), at positions ``offset``, ... (for
        RoPE), to already projected heads ``k``, ``v``."""
        q = self.project_query(query, offset)
        p = self.dropout if self.training else 0.0
        if need_weights or self.scoring is not None:
            heads, weights = attention(
                q,
                k,
                v,
                mask,
                is_causal=is_causal,
                dropout_p=p,
                scoring=self.scoring,
            )
            weights = weights if need_weights else None
        else:
            heads, weights = (
                fast_attention(
                    q, k, v, mask, is_causal=is_causal, dropout_p=p
                ),
                None,
            )
        b, _, t, _ = heads.shape
        # (B, T_q, h*d_v)
        concat = heads.transpose(1, 2).reshape(b, t, self.n_heads * self.d_v)
        return self.w_o(concat), weights

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None = None,
        *,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Args: query (B, T_q, D), key and value (B, T_k, D), mask bool
        broadcastable to (B, h, T_q, T_k).

        Returns: output (B, T_q, D) and, if ``need_weights``, the weights (B,
        h, T_q, T_k), else None.
        """
        k, v = self.project_kv(key, value)
        return self.attend(
            query, k, v, mask, is_causal=is_causal, need_weights=need_weights
        )
