"""BLEU and chrF (§6.1, Table 2) with ``sacrebleu``, on detokenized *decoded*
output.

Scores are always computed on text produced by
:func:`transformer.decode.translate` (greedy or beam search from BOS, subwords
merged, detokenized), never on teacher-forced argmax, and always at corpus
level. Every score comes with its sacrebleu signature, which pins down how it
was computed.

Two BLEUs are reported, clearly labelled:

* ``bleu`` — **SacreBLEU**: ``sacrebleu.corpus_bleu(hyps, [refs])`` with its
  defaults (mixed case, ``tok:13a``, exponential smoothing). Comparable across
  papers that report SacreBLEU.
* ``bleu_lc`` — **lowercased BLEU**: the same, with ``lowercase=True``
  (signature ``case:lc|tok:13a``). Older Multi30k tutorials report lowercased
  BLEU on spaCy-tokenized text; 13a tokenization (the mteval-v13a rules) stands
  in for their tokenizer, so numbers are close to theirs but not identical.

Neither equals the paper's Table 2 numbers, which are *tokenized* BLEU from
``multi-bleu.perl`` on Moses-tokenized, compound-split text (case-sensitive);
the book discusses the gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric

if TYPE_CHECKING:
    from transformer.build import Model
    from transformer.data.tokenizer import Tokenizer


@dataclass(frozen=True)
class Scores:
    """Corpus-level scores of detokenized hypotheses against one reference
    each."""

    bleu: float
    bleu_signature: str
    chrf: float
    chrf_signature: str
    bleu_lc: float
    bleu_lc_signature: str
    # fraction of hypotheses identical to their reference (after stripping)
    exact_match: float
    n_sentences: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        return "\n".join(
            [
                f"BLEU = {self.bleu:.2f}  ({self.bleu_signature})",
                f"chrF = {self.chrf:.2f}  ({self.chrf_signature})",
                (
                    f"BLEU (lowercased, tok 13a) = {self.bleu_lc:.2f} "
                    f" ({self.bleu_lc_signature})"
                ),
                (
                    f"exact match = {100 * self.exact_match:.2f}% "
                    f" ({self.n_sentences} sentences)"
                ),
            ]
        )


def _check(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references;"
            " they must pair up"
        )
    if not hypotheses:
        raise ValueError("no sentences to score")


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[str],
    lowercase: bool = False,
) -> tuple[float, str]:
    """Corpus BLEU and its signature (``sacrebleu.corpus_bleu`` with tok
    13a)."""
    _check(hypotheses, references)
    metric = BLEU(lowercase=lowercase)
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return score.score, str(metric.get_signature())


def chrf(
    hypotheses: Sequence[str], references: Sequence[str]
) -> tuple[float, str]:
    """Corpus chrF (character 6-grams, β = 2) and its signature."""
    _check(hypotheses, references)
    metric = CHRF()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return score.score, str(metric.get_signature())


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    _check(hypotheses, references)
    return sum(
        h.strip() == r.strip() for h, r in zip(hypotheses, references)
    ) / len(references)


def score_corpus(
    hypotheses: Sequence[str], references: Sequence[str]
) -> Scores:
    """All scores at once (BLEU, chrF, lowercased BLEU, exact match)."""
    b, b_sig = bleu(hypotheses, references)
    c, c_sig = chrf(hypotheses, references)
    lc, lc_sig = bleu(hypotheses, references, lowercase=True)
    return Scores(
        b,
        b_sig,
        c,
        c_sig,
        lc,
        lc_sig,
        exact_match(hypotheses, references),
        len(references),
    )


def evaluate_translations(
    model: Model,
    tokenizer: Tokenizer,
    pairs: Sequence[tuple[str, str]],
    *,
    beam_size: int = 4,
    alpha: float = 0.6,
    extra_len: int = 50,
    batch_size: int = 64,
) -> tuple[Scores, list[str]]:
    """Decode the sources of ``pairs`` and score them against the targets;
    returns (scores, hypotheses)."""
    from transformer.decode import translate

    sources = [src for src, _ in pairs]
    references = [tgt for _, tgt in pairs]
    hypotheses = translate(
        model,
        tokenizer,
        sources,
        beam_size=beam_size,
        alpha=alpha,
        extra_len=extra_len,
        batch_size=batch_size,
    )
    return score_corpus(hypotheses, references), hypotheses


def bleu_conventions(
    hypotheses: Sequence[str], references: Sequence[str], lang: str
) -> list[dict[str, Any]]:
    """One output scored under the conventions papers and tutorials use, each
    with what it is.

    BLEU numbers are comparable only under the same convention; this shows how
    far apart they are for the same sentences. ``lang`` is the target language
    (for the Moses tokenizer).

    - sacreBLEU as it is meant to be reported: cased, tokenizer 13a
      (mteval-v13a), exponential smoothing;
    - the same lowercased; with the ``intl`` tokenizer (Unicode punctuation);
      on characters (``char``); and with no tokenization at all (``none``:
      words are whatever the spaces delimit);
    - *tokenized* BLEU as ``multi-bleu.perl`` computes it: text Moses-tokenized
      first (``sacremoses``), then BLEU on those tokens without smoothing,
      cased and lowercased. This is the paper's kind of number (Table 2,
      without its compound splitting) and the closest we come to the
      lowercased, tokenized BLEU of Multi30k papers and tutorials (which
      tokenize with spaCy or Moses);
    - chrF (character 6-grams, β = 2).
    """
    try:
        from sacremoses import MosesTokenizer
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "bleu_conventions needs the Moses tokenizer: pip install"
            " sacremoses"
        ) from None

    _check(hypotheses, references)
    hyps, refs = list(hypotheses), list(references)
    rows: list[dict[str, Any]] = []

    def add(
        name: str,
        what: str,
        metric: Metric,
        h: list[str],
        r: list[str],
    ) -> None:
        score = metric.corpus_score(h, [r])
        rows.append(
            {
                "convention": name,
                "score": score.score,
                "signature": str(metric.get_signature()),
                "what": what,
            }
        )

    add("sacreBLEU", "cased, tok 13a: the standard report", BLEU(), hyps, refs)
    add(
        "sacreBLEU, lowercased",
        "lc, tok 13a",
        BLEU(lowercase=True),
        hyps,
        refs,
    )
    add(
        "sacreBLEU, intl",
        "cased, Unicode-aware tokenizer",
        BLEU(tokenize="intl"),
        hyps,
        refs,
    )
    add(
        "sacreBLEU, char",
        "cased, every character a token",
        BLEU(tokenize="char"),
        hyps,
        refs,
    )
    add(
        "sacreBLEU, no tokenization",
        "cased, split on spaces only",
        BLEU(tokenize="none"),
        hyps,
        refs,
    )
    moses = MosesTokenizer(lang=lang)

    def tokenized(texts: list[str], lower: bool) -> list[str]:
        out = [moses.tokenize(t, escape=False, return_str=True) for t in texts]
        return [t.lower() for t in out] if lower else out

    for lower in (False, True):
        add(
            "tokenized BLEU"
            f" (multi-bleu.perl){', lowercased' if lower else ''}",
            f"Moses-tokenized{', lowercased' if lower else ', cased'}, no"
            " smoothing",
            BLEU(tokenize="none", smooth_method="none", force=True),
            tokenized(hyps, lower),
            tokenized(refs, lower),
        )
    add("chrF", "character 6-grams, β = 2", CHRF(), hyps, refs)
    return rows
