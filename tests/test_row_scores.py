"""Reading a difference of two recorded rows against the noise
(transformer/row_scores.py)."""

from __future__ import annotations

import pytest

from transformer.row_scores import Score, against_noise

NOISE = Score(ppl=0.2, bleu=1.5)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (Score(ppl=0.0, bleu=0.0), Score(0, 0)),
        (Score(ppl=0.2, bleu=-1.5), Score(0, 0)),  # equal to the noise
        (Score(ppl=-0.5, bleu=2.0), Score(1, 1)),  # a better in both
        (Score(ppl=0.5, bleu=-2.0), Score(-1, -1)),  # b better in both
        (Score(ppl=0.9, bleu=-1.64), Score(-1, -1)),
        (Score(ppl=-0.5, bleu=-2.0), Score(1, -1)),  # the measures disagree
        (Score(ppl=0.1, bleu=3.0), Score(0, 1)),
    ],
)
def test_a_difference_is_read_per_measure_lower_perplexity_better(
    delta: Score, expected: Score
) -> None:
    assert against_noise(delta, NOISE) == expected
