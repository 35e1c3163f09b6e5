"""An annotated, tested reproduction of "Attention Is All You Need" (Vaswani et
al., 2017)."""

from transformer.config import ModelConfig
from transformer.model import DecoderCache, Transformer

__all__ = ["ModelConfig", "Transformer", "DecoderCache"]
__version__ = "0.1.0"
