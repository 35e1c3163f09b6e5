"""From a :class:`DataConfig` to text pairs and a tokenizer (the training
split's vocabulary only)."""

from __future__ import annotations

from transformer.data import (
    Pair,
    Tokenizer,
    copy_task,
    english_number,
    german_number,
    load_multi30k,
    load_parallel_files,
    load_wmt14,
    number_split,
    number_task,
    train_tokenizer_for,
)
from transformer.train.config import DataConfig

SPLITS = ("train", "val", "test")


def load_pairs(data: DataConfig, split: str) -> list[Pair]:
    """The ``split`` ("train", "val" or "test") of the configured task as
    (source, target) pairs."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if data.task == "numbers":
        # Held-out numbers never occur in training: val and test measure
        # generalisation.
        train, held_out = number_split(data.held_out_fraction, seed=data.seed)
        if split == "train":
            return number_task(data.train_size, seed=data.seed, numbers=train)
        half = len(held_out) // 2
        numbers = held_out[:half] if split == "val" else held_out[half:]
        # each held-out number once
        return [(english_number(n), german_number(n)) for n in numbers]
    if data.task == "copy":
        size = {
            "train": data.train_size,
            "val": data.val_size,
            "test": data.test_size,
        }[split]
        return copy_task(size, seed=data.seed + SPLITS.index(split))
    data_dir = data.data_dir or None
    if data.task == "multi30k":
        return load_multi30k(
            split,
            src_lang=data.src_lang,
            tgt_lang=data.tgt_lang,
            data_dir=data_dir,
        )
    if data.task == "wmt14":
        return load_wmt14(
            split,
            src_lang=data.src_lang,
            tgt_lang=data.tgt_lang,
            data_dir=data_dir,
        )
    if data.task == "files":
        files = {
            "train": data.train_files,
            "val": data.val_files,
            "test": data.test_files,
        }[split]
        if not 1 <= len(files) <= 2:
            raise ValueError(
                f"data.{split}_files must list one TSV/JSONL file or two text"
                f" files, got {files!r}"
            )
        return load_parallel_files(*files)
    raise ValueError(f"unknown data.task {data.task!r}")


def build_tokenizer(data: DataConfig, train_pairs: list[Pair]) -> Tokenizer:
    """The shared source-target tokenizer (§5.1), trained on the training pairs
    only."""
    return train_tokenizer_for(
        train_pairs,
        vocab_size=data.vocab_size,
        word_level=data.tokenizer == "word",
    )
