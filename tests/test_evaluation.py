"""BLEU and chrF are sacrebleu's own numbers, with their signatures (§6.1)."""

from __future__ import annotations

import pytest
import sacrebleu

from transformer.evaluation import bleu, chrf, exact_match, score_corpus

HYPS = [
    "The cat sat on the mat.",
    "A man is riding a bicycle down the street",
    "two dogs play in the snow",
]
REFS = [
    "The cat sat on the mat.",
    "A man rides a bike down the street.",
    "Two dogs are playing in the snow.",
]


def test_bleu_equals_sacrebleu_corpus_bleu() -> None:
    score, signature = bleu(HYPS, REFS)
    expected = sacrebleu.corpus_bleu(HYPS, [REFS])
    assert score == pytest.approx(expected.score, abs=1e-12)
    assert 0 < score < 100
    assert (
        "tok:13a" in signature
        and "case:mixed" in signature
        and "nrefs:1" in signature
    )
    assert f"version:{sacrebleu.__version__}" in signature


def test_lowercased_bleu_equals_sacrebleu_with_lowercase_and_is_labelled() -> (
    None
):
    score, signature = bleu(HYPS, REFS, lowercase=True)
    assert score == pytest.approx(
        sacrebleu.corpus_bleu(HYPS, [REFS], lowercase=True).score, abs=1e-12
    )
    # "two dogs" matches "Two dogs" only when lowercased
    assert score > bleu(HYPS, REFS)[0]
    assert "case:lc" in signature and "tok:13a" in signature


def test_chrf_equals_sacrebleu_corpus_chrf() -> None:
    score, signature = chrf(HYPS, REFS)
    assert score == pytest.approx(
        sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-12
    )
    assert signature.startswith("nrefs:1") and "nc:6" in signature


def test_perfect_and_empty_hypotheses() -> None:
    assert bleu(REFS, REFS)[0] == pytest.approx(100.0)
    assert bleu([""] * 3, REFS)[0] == 0.0


def test_score_corpus_bundles_everything() -> None:
    scores = score_corpus(HYPS, REFS)
    assert scores.bleu == pytest.approx(
        sacrebleu.corpus_bleu(HYPS, [REFS]).score
    )
    assert scores.exact_match == pytest.approx(1 / 3)
    assert scores.n_sentences == 3
    text = scores.format()
    assert (
        "BLEU = " in text
        and "chrF = " in text
        and "lowercased" in text
        and scores.bleu_signature in text
    )
    assert set(scores.to_dict()) >= {
        "bleu",
        "chrf",
        "bleu_lc",
        "bleu_signature",
    }


def test_exact_match_strips_whitespace() -> None:
    assert exact_match(["a b ", "c"], ["a b", "d"]) == 0.5


@pytest.mark.parametrize(
    "hyps,refs,match",
    [(["a"], ["a", "b"], "pair up"), ([], [], "no sentences")],
)
def test_mismatched_inputs_are_rejected(
    hyps: list[str], refs: list[str], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        bleu(hyps, refs)


def test_bleu_conventions_agree_on_a_perfect_output_and_differ_where_they_should() -> (
    None
):
    from transformer.evaluation import bleu_conventions

    refs = ["A man rides a bike, doesn't he?", "Two dogs play in the snow."]
    perfect = {
        r["convention"]: r["score"] for r in bleu_conventions(refs, refs, "en")
    }
    assert all(score == pytest.approx(100.0) for score in perfect.values())
    hyps = ["a man rides a bike, doesn't he?", "Two dogs are playing in snow."]
    rows = {r["convention"]: r for r in bleu_conventions(hyps, refs, "en")}
    # "a" vs "A" only counts cased
    assert rows["sacreBLEU"]["score"] < rows["sacreBLEU, lowercased"]["score"]
    assert (
        rows["tokenized BLEU (multi-bleu.perl)"]["score"]
        < rows["tokenized BLEU (multi-bleu.perl), lowercased"]["score"]
    )
    assert (
        "case:lc" in rows["sacreBLEU, lowercased"]["signature"]
        and "tok:char" in rows["sacreBLEU, char"]["signature"]
    )
    assert rows["sacreBLEU"]["score"] == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs]).score
    )
