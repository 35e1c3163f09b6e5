"""One function that builds the model a :class:`ModelConfig` describes: the
paper's encoder-decoder, or a decoder-only / prefix-LM model (after the
paper)."""

from __future__ import annotations

from typing import TypeAlias

from transformer.config import ModelConfig
from transformer.decoder_only import DecoderOnlyTransformer
from transformer.model import Transformer

# Every translation model of this package: ``model(src, tgt)`` gives logits
Model: TypeAlias = Transformer | DecoderOnlyTransformer


def build_model(config: ModelConfig) -> Model:
    """``config.architecture``: "encoder_decoder" (§3, the default) ->
    :class:`Transformer`; "decoder_only" or "prefix_lm" ->
    :class:`DecoderOnlyTransformer`."""
    if config.architecture == "encoder_decoder":
        return Transformer(config)
    return DecoderOnlyTransformer(config)
