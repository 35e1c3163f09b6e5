"""An annotated, tested reproduction of "Attention Is All You Need" (Vaswani et
al., 2017)."""

from transformer.build import Model, build_model
from transformer.config import ModelConfig
from transformer.decoder_only import DecoderOnlyTransformer
from transformer.model import DecoderCache, Transformer

__all__ = [
    "ModelConfig",
    "Transformer",
    "DecoderCache",
    "DecoderOnlyTransformer",
    "Model",
    "build_model",
]
__version__ = "0.1.0"
