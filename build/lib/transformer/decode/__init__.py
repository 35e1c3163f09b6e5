"""Decoding (§6.1): greedy search and batched beam search with length penalty,
over cached decoding."""

from transformer.decode.beam import beam_decode, beam_search, length_penalty
from transformer.decode.greedy import greedy_decode, greedy_search
from transformer.decode.stepper import (
    Hypothesis,
    ModelStepDecoder,
    StepDecoder,
    max_output_lengths,
)
from transformer.decode.translate import translate

__all__ = [
    "Hypothesis",
    "ModelStepDecoder",
    "StepDecoder",
    "beam_decode",
    "beam_search",
    "greedy_decode",
    "greedy_search",
    "length_penalty",
    "max_output_lengths",
    "translate",
]
