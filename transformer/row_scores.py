"""A recorded row's numbers, as the comparison tables read them: its score
(validation perplexity and BLEU, as Table 3 measures them), whether it trained
as asked, its difference from the same run trained again, the seed spread
that every difference is read against, and whether its curve was still
falling at the budget. Used by Table 3 (``transformer.table3``) and by the
before/after-the-paper comparisons (``transformer.comparisons``).

    from transformer.row_scores import score, seed_spread
    noise = seed_spread([score(run) for run in seeds])  # Score(ppl, bleu)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transformer.results import RecordedRun
from transformer.train.config import RunConfig
from transformer.train.device import recorded_sampler


@dataclass(frozen=True)
class Score:
    """A row's two numbers in Table 3: dev perplexity and dev BLEU."""

    ppl: float
    bleu: float


def score(run: RecordedRun) -> Score:
    """A recorded run's row in Table 3: the perplexity of its last validation
    and the BLEU of its last checkpoint on the validation split."""
    last, val = run.last_val(), run.evals.get("val", {})
    if last is None or "bleu" not in val:
        raise ValueError(
            f"{run.path} has no validation perplexity and BLEU to read; its"
            " training ended before the first validation or its evaluation"
            " was not recorded: run the row's command again"
        )
    return Score(last["ppl"], val["bleu"])


# a run's place on disk and how it was started; everything else in its
# config is what it trained
_NOT_TRAINED = {"out_dir", "resume", "overwrite", "progress", "dropout_masks"}


def train_differences(
    run: RecordedRun, want: RunConfig, **expected: Any
) -> list[str]:
    """The training settings in which a recorded run trained otherwise than
    ``want``'s, with ``expected`` in place of some (``seed=1``, a row's
    ``label_smoothing``): the budget, batches, schedule, seed, precision and
    dropout sampler ("dropout_masks", as :func:`recorded_sampler` reads it),
    not where or how the run was started. An empty list: it trained as asked.
    """
    trained = RunConfig.from_dict(run.config, source=str(run.path))
    have, wanted = (
        dataclasses.asdict(trained.train),
        dataclasses.asdict(want.train),
    )
    unknown = sorted(set(expected) - set(wanted))
    if unknown:
        raise ValueError(
            f"no training setting {', '.join(unknown)}; the settings are"
            f" {', '.join(sorted(wanted))}"
        )
    target = {**wanted, **expected}
    differ = sorted(
        k
        for k in set(have) | set(target)
        if k not in _NOT_TRAINED and have.get(k) != target.get(k)
    )
    if recorded_sampler(run.config) != recorded_sampler({"train": target}):
        differ.append("dropout_masks")
    return differ


def repeat_delta(
    first: RecordedRun, again: RecordedRun, retrain: str
) -> Score:
    """``again`` minus ``first`` in Table 3's numbers, for two runs of one
    config and seed (the same model, training settings, batches and dropout
    sampler), trained on two machines or at two times: what the machine, the
    precision it chose for ``train.precision = "auto"`` and the code version
    change together. Raises if the two trained anything differently, naming
    ``retrain``, the command that trains ``again`` as it should be."""
    a, b = first.config, again.config
    differ = sorted(
        f"{section}.{key}"
        for section in set(a) | set(b)
        for key in set(a.get(section, {})) | set(b.get(section, {}))
        if not (section == "train" and key in _NOT_TRAINED)
        and a.get(section, {}).get(key) != b.get(section, {}).get(key)
    )
    if recorded_sampler(a) != recorded_sampler(b):
        differ.append("train.dropout_masks")
    if differ:
        raise ValueError(
            f"{again.path} is not {first.path} trained again: their configs"
            f" differ in {', '.join(differ)}; retrain it with `{retrain}`"
        )
    s, t = score(first), score(again)
    return Score(t.ppl - s.ppl, t.bleu - s.bleu)


def seed_spread(scores: list[Score]) -> Score:
    """The noise of the table: the range (max - min) of each number over runs
    of one configuration that differ only in their seed."""
    if len(scores) < 2:
        raise ValueError(
            f"a seed spread needs at least 2 runs of the base, got"
            f" {len(scores)}; record more seeds of the base row"
        )
    return Score(
        max(s.ppl for s in scores) - min(s.ppl for s in scores),
        max(s.bleu for s in scores) - min(s.bleu for s in scores),
    )


def against_noise(delta: Score, noise: Score) -> Score:
    """Read a difference of two rows (a minus b) against the noise, one
    measure at a time: +1 where it favours a by more than the noise (higher
    BLEU, lower perplexity), -1 where it favours b, 0 within the noise (a
    difference equal to the noise is within it)."""

    def sign(x: float, bound: float, higher_is_better: bool) -> int:
        if abs(x) <= bound:
            return 0
        return 1 if (x > 0) == higher_is_better else -1

    return Score(
        ppl=sign(delta.ppl, noise.ppl, higher_is_better=False),
        bleu=sign(delta.bleu, noise.bleu, higher_is_better=True),
    )


def late_nll_drop(
    val: Iterable[Mapping[str, Any]], budget: int, window: int
) -> float | None:
    """How far a run's validation NLL (nats per token) fell over the last
    ``window`` steps of its ``budget``: NLL at ``budget - window`` minus NLL
    at ``budget``; None where the run has no validation record at either
    step. A row still learning fast when the budget ends is compared at a
    point of its curve where the base has already flattened: its difference
    measures speed of learning as well as quality."""
    nll = {r["step"]: r["nll"] for r in val}
    if window <= 0 or budget - window not in nll or budget not in nll:
        return None
    return float(nll[budget - window] - nll[budget])


def still_learning(
    drops: Mapping[str, float | None], base_runs: Iterable[str]
) -> set[str]:
    """The rows whose NLL fell, over the budget's last steps, by more than
    that of every seed of the base (``drops``: :func:`late_nll_drop` by run
    name; ``base_runs``: the base's seeds among them). Empty while no seed of
    the base has a drop to compare with."""
    base = set(base_runs)
    threshold = [
        d for name, d in drops.items() if name in base and d is not None
    ]
    if not threshold:
        return set()
    top = max(threshold)
    return {
        name
        for name, d in drops.items()
        if name not in base and d is not None and d > top
    }
