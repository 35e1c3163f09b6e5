"""Rotary position embeddings (RoPE, Su et al. 2021; LLaMA's choice), after
the paper.

Instead of adding a position vector to the embeddings (§3.5), RoPE rotates
each query and key inside attention: the pair of features (2i, 2i + 1) of a
vector at position m turns by the angle m θ_i, with θ_i = base^(-2i/d) -- the
paper's sinusoid frequencies. A rotation by m θ of q and by n θ of k leaves

    q_m · k_n = (R(m θ) q) · (R(n θ) k) = q · R((n - m) θ) k,

so a score depends on the two vectors and, of their positions, only on the
offset n - m, not on where the pair sits in the sentence
(``tests/test_variants.py`` checks it). Values are not rotated.
Shape: (B, h, T, d) -> same, d even.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RotaryEmbedding(nn.Module):
    """Rotates (B, h, T, d) heads by their positions ``offset .. offset + T -
    1``."""

    def __init__(self, d_head: int, max_len: int, base: float = 10000.0):
        super().__init__()
        if d_head % 2:
            raise ValueError(
                f"rotary position embeddings need an even head size, got"
                f" d_k = {d_head}; choose d_model / n_heads (or d_k) even"
            )
        self.max_len, self.d_head, self.base = max_len, d_head, base
        cos, sin = self._tables()
        # Not persistent: a function of (d_head, max_len, base).
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def _tables(self) -> tuple[Tensor, Tensor]:
        """cos and sin of m θ_i, each (max_len, d/2), in float32."""
        theta = self.base ** (
            -torch.arange(0, self.d_head, 2).double() / self.d_head
        )
        angles = torch.arange(self.max_len).double()[:, None] * theta
        return angles.cos().float(), angles.sin().float()

    def reset_buffers(self) -> None:
        """Recompute the tables on their device (after a model built on the
        meta device was given memory with ``to_empty``)."""
        device = self.cos.device
        with torch.device("cpu"):
            cos, sin = self._tables()
        self.cos, self.sin = cos.to(device), sin.to(device)

    def forward(self, x: Tensor, offset: int | Tensor = 0) -> Tensor:
        """Rotate (B, h, T, d) by positions ``offset, ..., offset + T - 1``,
        or, with ``offset`` a (B, T) tensor, row b's position t by
        ``offset[b, t]`` (a decoder-only model's left-padded rows; the model
        checks them against ``max_len`` once per forward pass)."""
        if isinstance(offset, Tensor):
            # (B, T, d/2) -> (B, 1, T, d/2): the same angles for every head
            cos, sin = self.cos[offset][:, None], self.sin[offset][:, None]
        else:
            length = x.size(-2)
            if offset + length > self.max_len:
                raise ValueError(
                    f"sequence positions {offset}..{offset + length - 1}"
                    f" exceed the rotary table (max_len={self.max_len});"
                    " truncate the input or build the model with a larger"
                    " ModelConfig.max_len"
                )
            cos = self.cos[offset : offset + length]
            sin = self.sin[offset : offset + length]
        # In float32 (bf16 would blur the angles of far positions), then back.
        even, odd = x[..., 0::2].float(), x[..., 1::2].float()
        # (x_2i, x_2i+1) -> (x_2i cos - x_2i+1 sin, x_2i sin + x_2i+1 cos)
        rotated = torch.stack(
            (even * cos - odd * sin, even * sin + odd * cos), dim=-1
        )
        return rotated.flatten(-2).to(x.dtype)
