"""The real Multi30k, read through $MULTI30K_DIR (set by .ci/run); skipped only
where it is unset.

The 8k BPE is trained once per session (about 1.5 s on 2 cores).
"""

from __future__ import annotations

import os

import pytest

from transformer.data import (
    Pair,
    TokenBatchSampler,
    Tokenizer,
    collate,
    encode_pairs,
    load_multi30k,
    padding_efficiency,
    train_tokenizer_for,
)

pytestmark = pytest.mark.skipif(
    not os.environ.get("MULTI30K_DIR"),
    reason=(
        "MULTI30K_DIR is not set (.ci/run sets it to ../shared/data/multi30k)"
    ),
)

# Documented round-trip exceptions on the test split (see
# transformer/data/tokenizer.py): none. Every character of the test sentences
# occurs in the training split and no sentence starts with whitespace or
# contains "▁", so decode(encode(s)) == s for all 2 x 1,000 sentences.
EXPECTED_ROUND_TRIP_FAILURES = 0


@pytest.fixture(scope="session")
def multi30k_train() -> list[Pair]:
    return load_multi30k("train", "de", "en")


@pytest.fixture(scope="session")
def multi30k_bpe(multi30k_train: list[Pair]) -> Tokenizer:
    return train_tokenizer_for(multi30k_train, vocab_size=8000)


@pytest.mark.parametrize(
    "split, size", [("train", 29_000), ("val", 1_014), ("test", 1_000)]
)
@pytest.mark.parametrize("src, tgt", [("de", "en"), ("en", "fr")])
def test_split_sizes(split: str, size: int, src: str, tgt: str) -> None:
    pairs = load_multi30k(split, src, tgt)
    assert len(pairs) == size
    # no empty lines in the official files
    assert all(s and t for s, t in pairs)


def test_bpe_vocabulary_size(multi30k_bpe: Tokenizer) -> None:
    assert multi30k_bpe.vocab_size == 8000


def test_round_trip_every_test_sentence(multi30k_bpe: Tokenizer) -> None:
    sentences = [s for pair in load_multi30k("test", "de", "en") for s in pair]
    decoded = multi30k_bpe.decode_batch(multi30k_bpe.encode_batch(sentences))
    failures = [(s, d) for s, d in zip(sentences, decoded) if s != d]
    assert len(sentences) == 2000
    assert len(failures) == EXPECTED_ROUND_TRIP_FAILURES, failures[:5]


def test_padding_efficiency_on_training_split(
    multi30k_train: list[Pair], multi30k_bpe: Tokenizer
) -> None:
    examples, stats = encode_pairs(multi30k_train, multi30k_bpe)
    assert stats.kept == 29_000
    sampler = TokenBatchSampler(examples, max_tokens=4096, seed=0)
    batches = [collate([examples[i] for i in b]) for b in sampler]
    assert all(
        b.src.numel() <= 4096 and b.tgt_out.numel() <= 4096 for b in batches
    )
    assert padding_efficiency(batches) >= 0.9
