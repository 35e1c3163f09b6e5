"""Position-wise feed-forward network (§3.3, Eq. 2), and the activations that
came after it.

    relu    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2          Eq. (2), the paper
    gelu    FFN(x) = GELU(x W_1 + b_1) W_2 + b_2            BERT, GPT-2
    glu     FFN(x) = (σ(x W_1 + b_1) ⊙ (x W_3 + b_3)) W_2 + b_2
    geglu   FFN(x) = (GELU(x W_1 + b_1) ⊙ (x W_3 + b_3)) W_2 + b_2
    swiglu  FFN(x) = (Swish(x W_1 + b_1) ⊙ (x W_3 + b_3)) W_2 + b_2

GLU is Dauphin et al.'s gated linear unit, GEGLU and SwiGLU its variants of
Shazeer (2020); SwiGLU is the feed-forward layer of PaLM and LLaMA.

A gated variant has three matrices instead of two; :func:`matched_d_ff` gives
the hidden width that keeps the matrix parameters equal (the "2/3 rule": 3 d f'
= 2 d f). Shape: (B, T, d_model) -> same.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Activation = Literal["relu", "gelu", "glu", "geglu", "swiglu"]
GATED = {"glu": torch.sigmoid, "geglu": F.gelu, "swiglu": F.silu}
PLAIN = {"relu": F.relu, "gelu": F.gelu}


def matched_d_ff(d_ff: int, activation: Activation) -> int:
    """The hidden width of ``activation`` with as many matrix parameters as a
    plain FFN of width ``d_ff``."""
    return round(2 * d_ff / 3) if activation in GATED else d_ff


class PositionwiseFeedForward(nn.Module):
    """Eq. (2) (``activation="relu"``, the default) or a later variant, applied
    to each position alike. As in the paper, no dropout acts inside it (the
    residual connection drops its output, §5.4)."""

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        if activation not in GATED and activation not in PLAIN:
            raise ValueError(
                f"activation must be one of {sorted({**GATED, **PLAIN})}, got"
                f" {activation!r}"
            )
        self.activation = activation
        self.w_1 = nn.Linear(d_model, d_ff)
        self.w_2 = nn.Linear(d_ff, d_model)
        # the gated variants' second input
        self.w_3 = nn.Linear(d_model, d_ff) if activation in GATED else None

    def forward(self, x: Tensor) -> Tensor:
        if self.w_3 is None:
            hidden = PLAIN[self.activation](self.w_1(x))
        else:
            hidden = GATED[self.activation](self.w_1(x)) * self.w_3(x)
        return self.w_2(hidden)
