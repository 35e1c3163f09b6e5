"""Synthetic tasks: golden number words, the reordering they need, seeds and a
leak-free split."""

from __future__ import annotations

import pytest

from transformer.data import (
    copy_task,
    english_number,
    german_number,
    number_split,
    number_task,
)


@pytest.mark.parametrize(
    "n, english, german",
    [
        (0, "zero", "null"),
        (1, "one", "eins"),
        (7, "seven", "sieben"),
        (12, "twelve", "zwölf"),
        (17, "seventeen", "siebzehn"),
        (20, "twenty", "zwanzig"),
        (21, "twenty one", "ein und zwanzig"),
        (30, "thirty", "dreißig"),
        (45, "forty five", "fünf und vierzig"),
        (99, "ninety nine", "neun und neunzig"),
        (100, "one hundred", "ein hundert"),
        (101, "one hundred one", "ein hundert eins"),
        (111, "one hundred eleven", "ein hundert elf"),
        (200, "two hundred", "zwei hundert"),
        (345, "three hundred forty five", "drei hundert fünf und vierzig"),
        (999, "nine hundred ninety nine", "neun hundert neun und neunzig"),
    ],
)
def test_number_words_golden(n: int, english: str, german: str) -> None:
    assert (english_number(n), german_number(n)) == (english, german)


def test_alignment_crosses() -> None:
    """The German units come before the tens: source word order and target word
    order disagree."""
    en, de = english_number(45).split(), german_number(45).split()
    assert en.index("forty") < en.index("five") and de.index(
        "vierzig"
    ) > de.index("fünf")


def test_every_number_has_distinct_words() -> None:
    assert (
        len({english_number(n) for n in range(1000)})
        == 1000
        == len({german_number(n) for n in range(1000)})
    )


@pytest.mark.parametrize("n", [-1, 1000])
def test_numbers_out_of_range(n: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.999"):
        german_number(n)


def test_number_split_disjoint_complete_deterministic() -> None:
    train, held_out = number_split(held_out_fraction=0.2, seed=0)
    assert not set(train) & set(held_out) and sorted(train + held_out) == list(
        range(1000)
    )
    assert len(held_out) == 200
    assert (
        number_split(0.2, seed=0)
        == (train, held_out)
        != number_split(0.2, seed=1)
    )


def test_held_out_numbers_never_in_training_pairs() -> None:
    train, held_out = number_split(seed=0)
    train_pairs = number_task(5000, seed=0, numbers=train)
    held_out_sources = {english_number(k) for k in held_out}
    assert not {src for src, _ in train_pairs} & held_out_sources


def test_number_task_seeded() -> None:
    assert (
        number_task(50, seed=1)
        == number_task(50, seed=1)
        != number_task(50, seed=2)
    )
    assert all(
        de == german_number(int_of(en)) for en, de in number_task(50, seed=1)
    )


def int_of(english: str) -> int:
    return next(k for k in range(1000) if english_number(k) == english)


def test_copy_task() -> None:
    pairs = copy_task(100, seed=0, n_symbols=5, min_len=2, max_len=4)
    assert (
        pairs
        == copy_task(100, seed=0, n_symbols=5, min_len=2, max_len=4)
        != copy_task(100, seed=1)
    )
    assert all(src == tgt for src, tgt in pairs)
    assert {len(src.split()) for src, _ in pairs} == {2, 3, 4}
    assert {tok for src, _ in pairs for tok in src.split()} == {
        "0",
        "1",
        "2",
        "3",
        "4",
    }


def test_copy_task_bad_lengths() -> None:
    with pytest.raises(ValueError, match="min_len <= max_len"):
        copy_task(10, min_len=5, max_len=2)
