"""Layer normalisation (the paper's, §3.1) and RMSNorm (Zhang & Sennrich 2019;
LLaMA's choice).

LayerNorm(x) = g ⊙ (x - mean(x)) / sqrt(var(x) + ε) + b  (centres, scales)
RMSNorm(x)   = g ⊙ x / sqrt(mean(x²) + ε)                  (only scales)

RMSNorm drops the mean subtraction and the bias, one reduction instead of two;
models from T5 and LLaMA on use it. Shape: (..., d_model) -> (..., d_model).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

Norm = Literal["layer", "rms"]


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + ε) ⊙ g, over the last dimension (computed in
    float32, cast back)."""

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: Tensor) -> Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (h * self.weight.float()).to(x.dtype)


def make_norm(kind: Norm, d_model: int, eps: float) -> nn.Module:
    """``"layer"``: ``nn.LayerNorm`` (the paper); ``"rms"``:
    :class:`RMSNorm`."""
    if kind == "layer":
        return nn.LayerNorm(d_model, eps=eps)
    if kind == "rms":
        return RMSNorm(d_model, eps=eps)
    raise ValueError(f"norm must be 'layer' or 'rms', got {kind!r}")
