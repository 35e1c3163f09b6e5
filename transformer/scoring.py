"""Attention scoring functions: the paper's scaled dot product (Eq. 1) and the
ones it is compared with in §3.2.1, for the multi-head layer.

Each maps per-head queries q (B, h, T_q, d_k) and keys k (B, h, T_k, d_k) to
scores (B, h, T_q, T_k), before the mask and the softmax:

    scaled_dot  q · k / sqrt(d_k)        the paper (Eq. 1)
    dot         q · k                    "dot-product attention" (Luong 2015)
    general     q W k                    bilinear, W (d_k x d_k) per head
                                         (Luong et al. 2015), W = I at start
    additive    v · tanh(W_1 q + W_2 k)  Bahdanau et al. (2015), a hidden
                                         layer of d_k units per head

§3.2.1: "for small values of d_k the two mechanisms [additive and dot
product] perform similarly, additive attention outperforms dot product
attention without scaling for larger values of d_k", because dot products
grow like sqrt(d_k) and push the softmax into regions of tiny gradients.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

Scoring = Literal["scaled_dot", "dot", "general", "additive"]
SCORINGS: tuple[str, ...] = ("scaled_dot", "dot", "general", "additive")


class ScaledDot(nn.Module):
    """Eq. (1): q · k / sqrt(d_k)."""

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        return q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))


class Dot(nn.Module):
    """Unscaled dot product, q · k."""

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        return q @ k.transpose(-2, -1)


class General(nn.Module):
    """Bilinear q W k with one (d_k, d_k) matrix per head, initialised to the
    identity (so it starts as :class:`Dot`)."""

    def __init__(self, n_heads: int, d_k: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(d_k).repeat(n_heads, 1, 1))

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        # (B, h, T_q, d) @ (h, d, d) -> (B, h, T_q, d), then with the keys
        return (q @ self.weight) @ k.transpose(-2, -1)


class Additive(nn.Module):
    """Bahdanau's v · tanh(W_1 q + W_2 k), per head, with d_k hidden units."""

    def __init__(self, n_heads: int, d_k: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(d_k)
        self.w_1 = nn.Parameter(torch.empty(n_heads, d_k, d_k))
        self.w_2 = nn.Parameter(torch.empty(n_heads, d_k, d_k))
        self.v = nn.Parameter(torch.empty(n_heads, d_k))
        for p in (self.w_1, self.w_2, self.v):
            nn.init.uniform_(p, -bound, bound)

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        a, b = q @ self.w_1, k @ self.w_2  # (B, h, T_q, d), (B, h, T_k, d)
        # (B, h, T_q, T_k, d): every query with every key, then v
        hidden = torch.tanh(a.unsqueeze(-2) + b.unsqueeze(-3))
        return torch.einsum("bhijd,hd->bhij", hidden, self.v.to(hidden.dtype))


def make_scoring(kind: str, n_heads: int, d_k: int) -> nn.Module:
    if kind == "scaled_dot":
        return ScaledDot()
    if kind == "dot":
        return Dot()
    if kind == "general":
        return General(n_heads, d_k)
    if kind == "additive":
        return Additive(n_heads, d_k)
    raise ValueError(
        f"attention scoring must be one of {', '.join(SCORINGS)}, got {kind!r}"
    )
