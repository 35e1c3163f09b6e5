"""What a search algorithm needs from a model: one step of log-probabilities,
and reordering.

Greedy and beam search (``greedy.py``, ``beam.py``) only talk to a
:class:`StepDecoder`. The real ones, :class:`ModelStepDecoder` and
:class:`DecoderOnlyStepDecoder` (``step_decoder`` picks by model), run the
model one position at a time with its key/value cache; the tests plug in a
fake with fixed per-step probabilities.

Shapes: B sentences, K beams, N = B·K rows (hypotheses), S source length, V
vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from transformer.build import Model
from transformer.decoder_only import DecoderOnlyTransformer
from transformer.model import Transformer


@dataclass
class Hypothesis:
    """One finished output: ``tokens`` without BOS and EOS; ``log_prob`` = log
    p(tokens, EOS | source); ``score`` = log_prob / lp(|Y|), the
    length-normalised score that beam search ranks by."""

    tokens: list[int]
    log_prob: float
    score: float


class StepDecoder(Protocol):
    """The decoder protocol of the search algorithms.

    Row ``i`` is one hypothesis. ``step(tokens)`` feeds the last token of every
    row (N,) and returns log-probabilities of the next token (N, V).
    ``reorder(index)`` keeps rows ``index`` (N',), in that order, e.g. the
    parents of the surviving beams; N' may be smaller than N when sentences
    finish.
    """

    def step(self, tokens: Tensor) -> Tensor: ...

    def reorder(self, index: Tensor) -> None: ...


class ModelStepDecoder:
    """Cached incremental decoding with a :class:`Transformer` (the model must
    be in eval mode).

    The source is encoded once; its memory and mask are repeated ``repeat``
    times (beam size) so that row ``b·repeat + k`` is beam k of sentence b.
    """

    def __init__(
        self, model: Transformer, src: Tensor, repeat: int = 1
    ) -> None:
        self.model = model
        memory = model.encode(src)  # (B, S, D)
        self.memory = memory.repeat_interleave(repeat, dim=0)  # (B·K, S, D)
        # (B·K, 1, 1, S)
        self.src_mask = model.src_mask(src).repeat_interleave(repeat, dim=0)
        self.cache = model.new_cache()

    def step(self, tokens: Tensor) -> Tensor:
        tokens = tokens.to(self.memory.device)
        # (N, 1, V)
        logits = self.model.decode(
            tokens[:, None], self.memory, self.src_mask, cache=self.cache
        )
        return torch.log_softmax(logits[:, -1].float(), dim=-1)  # (N, V)

    def reorder(self, index: Tensor) -> None:
        index = index.to(self.memory.device)
        self.memory = self.memory.index_select(0, index)
        self.src_mask = self.src_mask.index_select(0, index)
        self.cache.reorder(index)


class DecoderOnlyStepDecoder:
    """Cached incremental decoding with a :class:`DecoderOnlyTransformer`
    (eval mode): the source runs through the stack once (``prefill``), its
    cache is repeated ``repeat`` times (beams), then one token per step."""

    def __init__(
        self, model: DecoderOnlyTransformer, src: Tensor, repeat: int = 1
    ) -> None:
        self.model = model
        self.cache = model.prefill(src)
        self.cache.repeat_interleave(repeat)

    def step(self, tokens: Tensor) -> Tensor:
        tokens = tokens.to(self.cache.real.device)
        logits = self.model.step(tokens[:, None], self.cache)  # (N, 1, V)
        return torch.log_softmax(logits[:, -1].float(), dim=-1)  # (N, V)

    def reorder(self, index: Tensor) -> None:
        self.cache.reorder(index.to(self.cache.real.device))


def step_decoder(model: Model, src: Tensor, repeat: int = 1) -> StepDecoder:
    """The :class:`StepDecoder` of ``model``: encoder-decoder or decoder-only
    (``repeat`` rows per sentence, for beams)."""
    if isinstance(model, DecoderOnlyTransformer):
        return DecoderOnlyStepDecoder(model, src, repeat)
    return ModelStepDecoder(model, src, repeat)


def max_output_lengths(
    model: Model, src: Tensor, extra: int = 50
) -> list[int]:
    """§6.1: "maximum output length to input length + 50", per sentence,
    counting EOS.

    The input length counts the real (non-padding) source tokens, so a sentence
    gets the same limit in a batch as alone. Capped so that every decoder
    position fits the positional table (which a decoder-only model shares
    between the source's n positions and the output's).
    """
    lengths = (src != model.config.pad_id).sum(dim=1).tolist()
    room = model.config.max_len
    if isinstance(model, DecoderOnlyTransformer):
        return [max(1, min(n + extra, room - n)) for n in lengths]
    return [min(n + extra, room) for n in lengths]
