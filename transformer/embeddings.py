"""Embeddings (§3.4) and positional encodings (§3.5)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class TokenEmbedding(nn.Module):
    """§3.4: learned embeddings, multiplied by sqrt(d_model). Shape: (B, T) ids
    -> (B, T, d_model)."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        pad_id: int | None = None,
        scale: bool = True,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.scale = math.sqrt(d_model) if scale else 1.0

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def forward(self, tokens: Tensor) -> Tensor:
        return self.embedding(tokens) * self.scale


def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """§3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) =
    cos(pos / 10000^(2i/d_model)).

    Sines and cosines interleave along the feature axis, as the formula says.
    Shape: (max_len, d_model).
    """
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (L, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(D/2),)
    angles = pos / torch.pow(10000.0, two_i / d_model)  # (L, ceil(D/2))
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return table.float()


class PositionalEncoding(nn.Module):
    """Adds position information to embeddings: fixed sinusoids (§3.5) or
    learned (Table 3 row E).

    ``forward(x, offset)`` adds the rows for positions offset, ..., offset + T
    - 1. Shape: (B, T, d_model) -> (B, T, d_model).
    """

    def __init__(
        self, d_model: int, max_len: int, learned: bool = False
    ) -> None:
        super().__init__()
        self.max_len, self.d_model = max_len, d_model
        self.learned = learned
        if learned:
            self.table = nn.Parameter(torch.empty(max_len, d_model))
            nn.init.normal_(self.table, std=d_model**-0.5)
        else:
            # Not persistent: the table is a function of (max_len, d_model), so
            # checkpoints omit it.
            self.register_buffer(
                "table", sinusoidal_table(max_len, d_model), persistent=False
            )

    def reset_buffers(self) -> None:
        """Recompute the sinusoid table on its device (after a model built on
        the meta device was given memory with ``to_empty``)."""
        if not self.learned:
            self.table = sinusoidal_table(self.max_len, self.d_model).to(
                self.table.device
            )

    def forward(self, x: Tensor, offset: int | Tensor = 0) -> Tensor:
        """Add the rows of positions ``offset, ..., offset + T - 1``, or, with
        ``offset`` a (B, T) tensor of positions, row ``offset[b, t]`` to
        ``x[b, t]`` (a decoder-only model's left-padded rows; the model
        checks them against ``max_len`` once per forward pass)."""
        if isinstance(offset, Tensor):
            return x + self.table[offset].to(x.dtype)  # (B, T, D)
        length = x.size(1)
        if offset + length > self.max_len:
            raise ValueError(
                f"sequence positions {offset}..{offset + length - 1} exceed"
                f" the positional table (max_len={self.max_len}); truncate the"
                " input or build the model with a larger ModelConfig.max_len"
            )
        return x + self.table[offset : offset + length].to(x.dtype)
