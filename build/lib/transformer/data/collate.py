"""Padding a list of examples into the tensors the model reads, and measuring
the padding.

Shapes: ``B`` pairs in the batch, ``S`` longest source (tokens + EOS), ``T``
longest target + 1 (decoder input BOS + tokens, decoder output tokens + EOS).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from transformer.data.examples import Example
from transformer.data.tokenizer import PAD_ID


@dataclass
class Batch:
    """One training batch: padded source, decoder input and decoder output
    (teacher forcing, §3.1)."""

    src: Tensor  # (B, S) source ids + EOS, then PAD
    # (B, T) BOS + target ids, then PAD: tgt_ids[:-1], the "shifted right"
    # input
    tgt_in: Tensor
    # (B, T) target ids + EOS, then PAD: tgt_ids[1:], what the decoder must
    # predict
    tgt_out: Tensor
    # non-pad target tokens = number of predictions, the loss's natural
    # normaliser
    n_tokens: int
    pad_id: int = PAD_ID

    def to(
        self, device: torch.device | str, non_blocking: bool = False
    ) -> Batch:
        """The same batch with its tensors on ``device``."""
        return Batch(
            src=self.src.to(device, non_blocking=non_blocking),
            tgt_in=self.tgt_in.to(device, non_blocking=non_blocking),
            tgt_out=self.tgt_out.to(device, non_blocking=non_blocking),
            n_tokens=self.n_tokens,
            pad_id=self.pad_id,
        )

    def pin_memory(self) -> Batch:
        """Page-locked copy, so that ``DataLoader(pin_memory=True)`` works with
        this custom batch."""
        return Batch(
            self.src.pin_memory(),
            self.tgt_in.pin_memory(),
            self.tgt_out.pin_memory(),
            self.n_tokens,
            self.pad_id,
        )

    def __len__(self) -> int:
        return self.src.shape[0]


def _pad(rows: Sequence[Sequence[int]], pad_id: int) -> Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor(
        [list(r) + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long
    )


def collate(examples: Sequence[Example], pad_id: int = PAD_ID) -> Batch:
    """Pad examples ``(src_ids, tgt_ids)`` into a :class:`Batch` (usable as a
    DataLoader ``collate_fn``).

    Shape: src (B, S), tgt_in (B, T), tgt_out (B, T) with T = max(len(tgt_ids))
    - 1.
    """
    if not examples:
        raise ValueError("Cannot collate an empty list of examples")
    for i, (src, tgt) in enumerate(examples):
        if len(src) < 1 or len(tgt) < 2:
            raise ValueError(
                f"Example {i} has {len(src)} source and {len(tgt)} target ids;"
                " a source needs at least EOS and a target at least BOS and"
                " EOS. Build examples with encode_pairs()."
            )
    # Shift each row before padding, so that tgt_in never holds EOS and tgt_out
    # never holds BOS.
    tgt_in = _pad([t[:-1] for _, t in examples], pad_id)  # (B, T)
    tgt_out = _pad([t[1:] for _, t in examples], pad_id)  # (B, T)
    n_tokens = sum(len(t) - 1 for _, t in examples)
    return Batch(
        src=_pad([s for s, _ in examples], pad_id),
        tgt_in=tgt_in,
        tgt_out=tgt_out,
        n_tokens=n_tokens,
        pad_id=pad_id,
    )


def padding_efficiency(batches: Iterable[Batch]) -> float:
    """Non-pad tokens / all tokens over ``batches``, source and target together
    (1.0 = no padding).

    The target side is counted once, on ``tgt_out`` (``tgt_in`` has the same
    number of real tokens). Length bucketing (§5.1) exists to keep this close
    to 1: padding is computation spent on nothing.
    """
    real = total = 0
    for batch in batches:
        real += int((batch.src != batch.pad_id).sum()) + int(
            (batch.tgt_out != batch.pad_id).sum()
        )
        total += batch.src.numel() + batch.tgt_out.numel()
    if total == 0:
        raise ValueError(
            "padding_efficiency needs at least one non-empty batch"
        )
    return real / total
