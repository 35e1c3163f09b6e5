"""Decoding (§6.1): greedy search and batched beam search with length penalty,
over cached decoding, for the encoder-decoder and the one-stack models."""

from transformer.decode.beam import beam_decode, beam_search, length_penalty
from transformer.decode.greedy import greedy_decode, greedy_search
from transformer.decode.stepper import (
    DecoderOnlyStepDecoder,
    Hypothesis,
    ModelStepDecoder,
    StepDecoder,
    max_output_lengths,
    step_decoder,
)
from transformer.decode.translate import translate

__all__ = [
    "DecoderOnlyStepDecoder",
    "Hypothesis",
    "ModelStepDecoder",
    "StepDecoder",
    "beam_decode",
    "beam_search",
    "greedy_decode",
    "greedy_search",
    "length_penalty",
    "max_output_lengths",
    "step_decoder",
    "translate",
]
