"""Dropout (§5.4, P_drop) with a mask that is cheaper to draw on the CPU.

The paper applies dropout to every sub-layer's output and to the sums of the
embeddings and positional encodings. ``nn.Dropout`` draws its Bernoulli mask
with one floating-point random number per element; on a 2-core CPU that was
about a tenth of the small model's whole training step
(``results/benchmarks/cpu-profile-small-bf16-fused.json``: ``bernoulli_``).
:func:`bits_dropout` draws the same kind of mask from raw random bits instead:
one 64-bit random word gives four 16-bit numbers, each compared with a
threshold, so an element is dropped with probability ``round(p * 2^16) /
2^16`` (0.1 becomes 0.100006). Kept elements are scaled by one over the
probability of being kept, as ``nn.Dropout`` does.

Which mask is drawn is a training setting (``train.dropout_masks``, see
:func:`transformer.train.device.dropout_bits`), applied to a built model by
:func:`use_bits_masks`; a model is built with PyTorch's masks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# 16-bit numbers: p is rounded to a multiple of 2^-16
_LEVELS = 1 << 16


def drop_mask(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device
) -> Tensor:
    """A bool mask of ``shape``, each element True (dropped) independently
    with probability ``round(p * 2^16) / 2^16``, from the default generator
    of ``device`` (so ``torch.manual_seed`` makes it repeatable)."""
    threshold = round(p * _LEVELS) - _LEVELS // 2
    if threshold >= _LEVELS // 2:  # p = 1 (beyond int16)
        return torch.ones(shape, dtype=torch.bool, device=device)
    n = 1
    for size in shape:
        n *= size
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device)
    # every 64-bit value equally likely, so each 16-bit quarter is uniform
    words.random_(-(2**63), None)
    quarters = words.view(torch.int16)[:n].view(shape)
    # int16 counts from -2^15: "below -2^15 + k" has probability k / 2^16
    return quarters < threshold


class _BitsDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, p: float) -> Tensor:  # type: ignore[override]
        drop = drop_mask(x.shape, p, x.device)
        ctx.save_for_backward(drop)
        # 1 / (1 - the probability the mask really has), so the mean is kept
        # exactly
        kept = _LEVELS - round(p * _LEVELS)
        ctx.scale = _LEVELS / kept
        return x.masked_fill(drop, 0.0).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (drop,) = ctx.saved_tensors
        return grad.masked_fill(drop, 0.0).mul_(ctx.scale), None


def bits_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout(x, p, training)`` with the mask of :func:`drop_mask`."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must lie in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    # a label for benchmarks/profile_train_step.py
    with torch.profiler.record_function("bits_dropout"):
        return _BitsDropout.apply(x, p)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same arguments, same state dict: none), drawing its
    mask with :func:`bits_dropout` when ``bits`` is set."""

    bits: bool = False

    def forward(self, x: Tensor) -> Tensor:
        if self.bits:  # out of place even with inplace=True
            return bits_dropout(x, self.p, self.training)
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", masks=bits" if self.bits else "")


def use_bits_masks(model: nn.Module, bits: bool = True) -> int:
    """Set every :class:`Dropout` of ``model`` to draw bit masks (or, with
    ``bits=False``, PyTorch's). Returns how many modules were set."""
    count = 0
    for module in model.modules():
        if isinstance(module, Dropout):
            module.bits = bits
            count += 1
    return count
