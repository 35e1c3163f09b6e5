"""Synthetic tasks generated in code, seeded, small enough for the CPU chapters
and the tests.

* **Copy**: the target is the source. A model that learns it has learned to use
  attention as a pointer (each output position attends to the matching input
  position).
* **Numbers**: English number words to German number words, 0..999. German says
  the units before the tens ("forty five" -> "fünf und vierzig"), so the
  attention between source and target must cross: a small translation task that
  needs reordering, where the cross-attention map (§3.2.3) can be read at a
  glance. German is written as separate words ("fünf und vierzig", not
  "fünfundvierzig") so that one source word aligns with one target word; use
  :meth:`Tokenizer.train_word_level`.

Each generator takes a ``seed`` and uses its own ``random.Random``, never the
global state.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from transformer.data.corpus import Pair

MAX_NUMBER = 999

_EN_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve"
    " thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_DE_ONES = (
    "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf"
    " dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn"
).split()
_DE_TENS = (
    "_ _ zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig"
).split()


def _check_number(n: int) -> None:
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(
            f"Number words are defined for 0..{MAX_NUMBER}, got {n}"
        )


def english_number(n: int) -> str:
    """``345 -> "three hundred forty five"`` (no hyphens, no "and": one word
    per token)."""
    _check_number(n)
    hundreds, rest = divmod(n, 100)
    words = [_EN_ONES[hundreds], "hundred"] if hundreds else []
    if rest or not hundreds:
        if rest < 20:
            words.append(_EN_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            words += [_EN_TENS[tens]] + ([_EN_ONES[ones]] if ones else [])
    return " ".join(words)


def german_number(n: int) -> str:
    """``345 -> "drei hundert fünf und vierzig"``: units before tens, so the
    alignment crosses."""
    _check_number(n)
    hundreds, rest = divmod(n, 100)
    # "ein" (not "eins") inside a compound: einhundert, einundzwanzig; "eins"
    # only on its own or at the end.
    words = (
        ["ein" if hundreds == 1 else _DE_ONES[hundreds], "hundert"]
        if hundreds
        else []
    )
    if rest or not hundreds:
        if rest < 20:
            words.append(_DE_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            if ones:
                words += ["ein" if ones == 1 else _DE_ONES[ones], "und"]
            words.append(_DE_TENS[tens])
    return " ".join(words)


def number_split(
    held_out_fraction: float = 0.2, seed: int = 0, max_number: int = MAX_NUMBER
) -> tuple[list[int], list[int]]:
    """Split 0..max_number into (train numbers, held-out numbers), disjoint and
    deterministic.

    Generate training pairs with ``number_task(n, numbers=train)`` and
    evaluation pairs from ``held_out``: a held-out number never appears in
    training, so success means generalisation.
    """
    _check_number(max_number)
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(
            f"held_out_fraction must lie in (0, 1), got {held_out_fraction}"
        )
    numbers = list(range(max_number + 1))
    random.Random(seed).shuffle(numbers)
    n_held = max(1, round(held_out_fraction * len(numbers)))
    return sorted(numbers[n_held:]), sorted(numbers[:n_held])


def number_task(
    n: int,
    seed: int = 0,
    numbers: Sequence[int] | None = None,
    max_number: int = MAX_NUMBER,
) -> list[Pair]:
    """``n`` pairs (English words, German words) for numbers drawn uniformly,
    with replacement.

    Args:
        n: number of pairs.
        seed: seeds the draw.
        numbers: the numbers to draw from (e.g. the training side of
            :func:`number_split`); default ``0..max_number``.
    """
    pool = (
        list(numbers) if numbers is not None else list(range(max_number + 1))
    )
    if not pool:
        raise ValueError("numbers is empty; nothing to draw from")
    for k in pool:
        _check_number(k)
    rng = random.Random(seed)
    drawn = [rng.choice(pool) for _ in range(n)]
    return [(english_number(k), german_number(k)) for k in drawn]


def copy_task(
    n: int,
    seed: int = 0,
    n_symbols: int = 10,
    min_len: int = 1,
    max_len: int = 10,
) -> list[Pair]:
    """``n`` pairs whose target equals the source: ``min_len..max_len`` symbols
    ``"0" .. str(n_symbols - 1)``."""
    if n_symbols < 1 or not 1 <= min_len <= max_len:
        raise ValueError(
            "Need n_symbols >= 1 and 1 <= min_len <= max_len, got"
            f" {n_symbols}, {min_len}, {max_len}"
        )
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for _ in range(n):
        text = " ".join(
            str(rng.randrange(n_symbols))
            for _ in range(rng.randint(min_len, max_len))
        )
        pairs.append((text, text))
    return pairs
