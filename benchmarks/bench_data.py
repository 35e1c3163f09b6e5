"""Time the data pipeline of §5.1 on Multi30k: BPE training, encoding,
token-budget batching.

Target (issue 3): training the 8k BPE and batching the whole training split
take under 15 s together on 2 CPU cores. Prints one line per step, so that the
numbers can be pasted into a report.

    python benchmarks/bench_data.py --data-dir ../shared/data/multi30k
    MULTI30K_DIR=... python benchmarks/bench_data.py --max-tokens 25000
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import TypeVar

import tokenizers
import torch

from transformer.data import (
    TokenBatchSampler,
    collate,
    encode_pairs,
    load_multi30k,
    padding_efficiency,
    train_tokenizer_for,
)

T = TypeVar("T")


def timed(label: str, fn: Callable[[], T], times: dict[str, float]) -> T:
    start = time.perf_counter()
    result = fn()
    times[label] = time.perf_counter() - start
    print(f"{label:<34} {times[label]:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="raw Multi30k directory (default: $MULTI30K_DIR, else the hub)",
    )
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--max-tokens", type=int, default=4096)
    args = parser.parse_args()

    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {platform.python_version()}, torch {torch.__version__},"
        f" tokenizers {tokenizers.__version__}, {os.cpu_count()} CPUs, load"
        f" average {load1:.2f} at start"
    )
    times: dict[str, float] = {}
    train = timed(
        "load train split (de-en)",
        lambda: load_multi30k("train", data_dir=args.data_dir),
        times,
    )
    tokenizer = timed(
        f"train BPE ({args.vocab_size:,} tokens)",
        lambda: train_tokenizer_for(train, args.vocab_size),
        times,
    )
    examples, stats = timed(
        "encode pairs", lambda: encode_pairs(train, tokenizer), times
    )
    sampler = timed(
        f"build sampler ({args.max_tokens:,} tokens)",
        lambda: TokenBatchSampler(examples, args.max_tokens),
        times,
    )
    index_batches = timed(
        "one epoch of index batches", lambda: list(sampler), times
    )
    batches = timed(
        "collate every batch",
        lambda: [collate([examples[i] for i in b]) for b in index_batches],
        times,
    )

    bpe_s = times[f"train BPE ({args.vocab_size:,} tokens)"]
    # encode, sampler, one epoch, collate
    batching_s = sum(times[k] for k in list(times)[2:])
    print("-" * 42)
    print(
        f"pairs: {stats}; vocabulary {tokenizer.vocab_size:,}; {len(batches)}"
        " batches"
    )
    print(f"padding efficiency: {padding_efficiency(batches):.4f}")
    print(
        f"BPE training {bpe_s:.2f} s + batching (encode, sample, collate)"
        f" {batching_s:.2f} s = {bpe_s + batching_s:.2f} s (target < 15 s)"
    )
    print(f"all steps, loading included: {sum(times.values()):.2f} s")


if __name__ == "__main__":
    main()
