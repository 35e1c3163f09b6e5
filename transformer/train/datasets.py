"""From a :class:`DataConfig` to text pairs (the task registry of
:mod:`transformer.data.tasks`) and a tokenizer (the training split's vocabulary
only)."""

from __future__ import annotations

from transformer.data import Pair, Tokenizer, train_tokenizer_for
from transformer.data.tasks import SPLITS, DataConfig, load_pairs

__all__ = ["SPLITS", "build_tokenizer", "load_pairs"]


def build_tokenizer(data: DataConfig, train_pairs: list[Pair]) -> Tokenizer:
    """The shared source-target tokenizer (§5.1), trained on the training pairs
    only."""
    return train_tokenizer_for(
        train_pairs,
        vocab_size=data.vocab_size,
        word_level=data.tokenizer == "word",
    )
