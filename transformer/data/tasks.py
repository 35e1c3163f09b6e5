"""Tasks: one registry from a task name to the loader of its text pairs.

A task is a function ``(data, split) -> list of (source, target) pairs`` for
the splits "train", "val" and "test", registered under its name with
:func:`task`; ``[data] task = "<name>"`` in a run config picks it. Adding a
task is one decorated function here (or in any module imported before the run
starts)::

    @task("my-corpus")
    def _my_corpus(data: DataConfig, split: str) -> list[Pair]:
        return load_parallel_files(f"my-corpus/{split}.tsv")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from transformer.data.corpus import Pair, load_parallel_files
from transformer.data.multi30k import load_multi30k
from transformer.data.synthetic import (
    copy_task,
    english_number,
    german_number,
    number_split,
    number_task,
)
from transformer.data.wmt14 import load_wmt14

SPLITS = ("train", "val", "test")


@dataclass
class DataConfig:
    task: str = "numbers"  # a name in TASKS: numbers, copy, multi30k, ...
    src_lang: str = "en"
    tgt_lang: str = "de"
    # multi30k / wmt14: offline copy ("" = env variable or the Hugging Face
    # hub)
    data_dir: str = ""
    # task "files": [src, tgt] text files or [tsv]
    train_files: list[str] = field(default_factory=list)
    val_files: list[str] = field(default_factory=list)
    test_files: list[str] = field(default_factory=list)
    train_size: int = 20000  # synthetic tasks: training pairs
    # copy task: validation pairs (numbers: half the held-out numbers)
    val_size: int = 100
    test_size: int = 100
    # numbers: share of 0..999 never seen in training (half val, half test)
    held_out_fraction: float = 0.2
    seed: int = 0
    # bpe (shared source-target BPE, §5.1) | word (synthetic tasks)
    tokenizer: str = "bpe"
    # BPE only (the word tokenizer keeps every word); the paper: 37000 (EN-DE),
    # 32000 (EN-FR)
    vocab_size: int = 8000
    # drop pairs longer than this many tokens (0: the model's max_len)
    max_len: int = 0


Loader = Callable[[DataConfig, str], list[Pair]]
TASKS: dict[str, Loader] = {}


def task(name: str) -> Callable[[Loader], Loader]:
    """Register ``loader`` as the task ``name``."""

    def register(loader: Loader) -> Loader:
        if name in TASKS:
            raise ValueError(f"task {name!r} is already registered")
        TASKS[name] = loader
        return loader

    return register


def load_pairs(data: DataConfig, split: str) -> list[Pair]:
    """The ``split`` ("train", "val" or "test") of the configured task as
    (source, target) pairs."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if data.task not in TASKS:
        raise ValueError(
            f"unknown data.task {data.task!r}; the tasks are"
            f" {', '.join(TASKS)}"
        )
    return TASKS[data.task](data, split)


@task("numbers")
def _numbers(data: DataConfig, split: str) -> list[Pair]:
    # Held-out numbers never occur in training: val and test measure
    # generalisation.
    train, held_out = number_split(data.held_out_fraction, seed=data.seed)
    if split == "train":
        return number_task(data.train_size, seed=data.seed, numbers=train)
    half = len(held_out) // 2
    numbers = held_out[:half] if split == "val" else held_out[half:]
    # each held-out number once
    return [(english_number(n), german_number(n)) for n in numbers]


@task("copy")
def _copy(data: DataConfig, split: str) -> list[Pair]:
    size = {
        "train": data.train_size,
        "val": data.val_size,
        "test": data.test_size,
    }[split]
    return copy_task(size, seed=data.seed + SPLITS.index(split))


@task("multi30k")
def _multi30k(data: DataConfig, split: str) -> list[Pair]:
    return load_multi30k(
        split,
        src_lang=data.src_lang,
        tgt_lang=data.tgt_lang,
        data_dir=data.data_dir or None,
    )


@task("wmt14")
def _wmt14(data: DataConfig, split: str) -> list[Pair]:
    return load_wmt14(
        split,
        src_lang=data.src_lang,
        tgt_lang=data.tgt_lang,
        data_dir=data.data_dir or None,
    )


@task("files")
def _files(data: DataConfig, split: str) -> list[Pair]:
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
