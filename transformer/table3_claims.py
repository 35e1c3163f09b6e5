"""The conclusions of Table 3 (§6.2), checked against its recorded rows.

Each conclusion of the paper's §6.2 and §5.4 ("single-head attention is
worse than the best other setting", "reducing the attention key size d_k hurts
model quality", ...) is a :class:`Claim`: a difference between two rows of
``transformer.table3`` (or "best": the best BLEU of a block and the base) with
the sign the paper predicts. :func:`check_claims` reads each against the
recorded scores, the paper's own numbers and the noise
(``transformer.row_scores``)::

    from transformer.table3_claims import check_claims
    claims = check_claims(rows, scores, paper, noise, still_learning)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from transformer.row_scores import Score
from transformer.table3 import Row


@dataclass(frozen=True)
class Claim:
    """A conclusion of §6.2 as a difference between rows of the table.

    ``delta`` is ``metric(left) - metric(right)``, where ``left`` and
    ``right`` each pick one row (or "best": the best BLEU of a block and the
    base); ``expect`` is the sign the paper's conclusion predicts (0: "no
    difference").
    """

    block: str
    text: str
    metric: str  # "bleu" or "ppl"
    left: str  # a row selector, see _pick
    right: str
    expect: int


# The paper's conclusions from Table 3, in its order: §6.2's, and §5.4's on
# label smoothing ("This hurts perplexity ... but improves accuracy and BLEU
# score").
CLAIMS = [
    Claim(
        "A",
        "single-head attention is worse than the best other setting",
        "bleu",
        "A:h:min",
        "A:best",
        -1,
    ),
    Claim(
        "A",
        "quality also drops off with too many heads",
        "bleu",
        "A:h:max",
        "A:best",
        -1,
    ),
    Claim(
        "B",
        "reducing the attention key size d_k hurts model quality",
        "bleu",
        "B:d_k:min",
        "base",
        -1,
    ),
    Claim(
        "C",
        "bigger models are better: more layers N",
        "bleu",
        "C:N:max",
        "C:N:min",
        1,
    ),
    Claim(
        "C",
        "bigger models are better: a wider d_model",
        "bleu",
        "C:d_model:max",
        "C:d_model:min",
        1,
    ),
    Claim(
        "C",
        "bigger models are better: a wider d_ff",
        "bleu",
        "C:d_ff:max",
        "C:d_ff:min",
        1,
    ),
    Claim(
        "big",
        "bigger models are better: the big model",
        "bleu",
        "big",
        "base",
        1,
    ),
    Claim(
        "D",
        "dropout is very helpful in avoiding over-fitting",
        "bleu",
        "D:P_drop:min",
        "base",
        -1,
    ),
    Claim(
        "D",
        "label smoothing hurts perplexity (§5.4; PPL without it is lower)",
        "ppl",
        "D:ε_ls:min",
        "base",
        -1,
    ),
    Claim(
        "D",
        "... but improves BLEU (BLEU without it is lower)",
        "bleu",
        "D:ε_ls:min",
        "base",
        -1,
    ),
    Claim(
        "E",
        "learned positional embeddings: nearly identical results",
        "bleu",
        "E-learned",
        "base",
        0,
    ),
]


def _pick(
    selector: str,
    rows: list[Row],
    scores: dict[str, Score],
    other_than: str | None = None,
) -> str | None:
    """The name of the row a selector means: a row name, "X:quantity:min" /
    "X:quantity:max" (the row of block X with the smallest / largest value of
    the quantity), or "X:best" (the best BLEU among block X and the base,
    other than the row ``other_than``; None until all are scored)."""
    parts = selector.split(":")
    if len(parts) == 1:
        return selector
    block = [r for r in rows if r.block == parts[0]]
    if parts[1] == "best":
        names = [
            name
            for name in ["base", *(r.name for r in block)]
            if name != other_than
        ]
        if any(name not in scores for name in names):
            return None
        return max(names, key=lambda name: scores[name].bleu)
    varied = [r for r in block if r.varies and r.varies[0] == parts[1]]
    if not varied:
        raise ValueError(f"no row of block {parts[0]} varies {parts[1]}")
    chosen = (min if parts[2] == "min" else max)(
        varied, key=lambda r: r.varies[1] if r.varies else 0.0
    )
    return chosen.name


def check_claims(
    rows: list[Row],
    scores: dict[str, Score],
    paper: dict[str, Score],
    noise: Score | None,
    learning: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Each claim with the paper's difference and ours, and our verdict:
    "agrees" (a difference of the predicted sign larger than the seed spread,
    or for "no difference" one within it), "disagrees", "within noise", "not
    yet run" while a row it needs is missing, or "no seed spread yet" while
    the base has fewer than two seeds. ``learning``: the rows
    :func:`still_learning` at the budget; a claim that reads one says so in
    its "caveat"."""
    out = []
    for claim in CLAIMS:

        def delta(
            values: dict[str, Score],
        ) -> tuple[float | None, str, list[str]]:
            left = _pick(claim.left, rows, values)
            right = _pick(claim.right, rows, values, other_than=left)
            if left is None or right is None:
                return None, "", []
            if left not in values or right not in values:
                return None, f"{left} − {right}", []
            a, b = values[left], values[right]
            return (
                getattr(a, claim.metric) - getattr(b, claim.metric),
                f"{left} − {right}",
                [left, right],
            )

        ours, rows_used, names = delta(scores)
        theirs, _, _ = delta(paper)
        slow = [name for name in names if name in learning]
        if ours is None:
            verdict = "not yet run"
        elif noise is None:
            verdict = "no seed spread yet"
        else:
            spread = getattr(noise, claim.metric)
            if claim.expect == 0:
                verdict = "agrees" if abs(ours) <= spread else "disagrees"
            elif abs(ours) <= spread:
                verdict = "within noise"
            else:
                verdict = "agrees" if ours * claim.expect > 0 else "disagrees"
        out.append(
            {
                "block": claim.block,
                "claim": claim.text,
                "metric": "BLEU" if claim.metric == "bleu" else "PPL",
                "rows": rows_used,
                "paper Δ": theirs,
                "our Δ": ours,
                "seed spread": (
                    getattr(noise, claim.metric) if noise else None
                ),
                "verdict": verdict,
                "caveat": (
                    f"{', '.join(slow)} still learning at the budget"
                    if slow
                    else ""
                ),
            }
        )
    return out
