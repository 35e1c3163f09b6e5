"""From text pairs to token-id examples, with every dropped pair counted.

An example is ``(src_ids, tgt_ids)`` with ``src_ids = tokens + [EOS]`` and
``tgt_ids = [BOS] + tokens + [EOS]``: the encoder reads the source up to its
end marker, the decoder reads ``tgt_ids[:-1]`` (shifted right, §3.1 "the output
embeddings are offset by one position") and predicts ``tgt_ids[1:]``.

Empty pairs (either side blank) and over-long pairs are dropped here, and only
here; the numbers are returned in :class:`FilterStats` so that a notebook or a
training log can show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from transformer.data.corpus import Pair
from transformer.data.tokenizer import BOS_ID, EOS_ID, Tokenizer

Example = tuple[list[int], list[int]]
"""``(src_ids, tgt_ids)``: source tokens + EOS, and BOS + target tokens +
EOS."""


@dataclass
class FilterStats:
    """What :func:`encode_pairs` kept and dropped. ``total == kept + empty +
    too_long``."""

    total: int = 0
    kept: int = 0
    empty: int = 0  # source or target blank (after stripping whitespace)
    # source or target longer than max_len (see encode_pairs)
    too_long: int = 0
    # positions in the input pairs
    kept_indices: list[int] = field(default_factory=list, repr=False)

    @property
    def dropped(self) -> int:
        return self.empty + self.too_long

    def __str__(self) -> str:
        return (
            f"kept {self.kept:,} of {self.total:,} pairs ({self.empty:,}"
            f" empty, {self.too_long:,} too long)"
        )


def encode_pairs(
    pairs: Sequence[Pair], tokenizer: Tokenizer, max_len: int | None = None
) -> tuple[list[Example], FilterStats]:
    """Tokenize pairs into examples, dropping (and counting) empty and
    over-long ones.

    Args:
        pairs: ``(source, target)`` texts.
        tokenizer: the shared tokenizer (§5.1).
        max_len: longest sequence the model may see, counted as it sees them:
            ``len(src_ids)`` (tokens + EOS) and ``len(tgt_ids) - 1`` (the
            decoder input BOS + tokens, or equally the output tokens + EOS). A
            pair with either side longer is dropped. None: no limit.

    Returns:
        ``(examples, stats)``; ``stats.kept_indices[i]`` is the position in
        ``pairs`` of ``examples[i]`` (use it to keep references aligned with
        hypotheses).
    """
    if max_len is not None and max_len < 2:
        raise ValueError(
            f"max_len must be at least 2 (one token plus EOS), got {max_len}"
        )
    stats = FilterStats(total=len(pairs))
    candidates = [
        i for i, (src, tgt) in enumerate(pairs) if src.strip() and tgt.strip()
    ]
    stats.empty = len(pairs) - len(candidates)
    encoded = tokenizer.encode_batch(
        [pairs[i][0] for i in candidates] + [pairs[i][1] for i in candidates]
    )
    src_ids, tgt_ids = encoded[: len(candidates)], encoded[len(candidates) :]
    examples: list[Example] = []
    for i, src, tgt in zip(candidates, src_ids, tgt_ids):
        if max_len is not None and (
            len(src) + 1 > max_len or len(tgt) + 1 > max_len
        ):
            stats.too_long += 1
            continue
        examples.append((src + [EOS_ID], [BOS_ID] + tgt + [EOS_ID]))
        stats.kept_indices.append(i)
    stats.kept = len(examples)
    return examples, stats
