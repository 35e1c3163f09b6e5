"""Training metrics as JSON lines: one record per logging step, easy to plot
from a notebook.

A record: ``{"split": "train", "step": 100, "loss": ..., "nll": ..., "ppl":
..., "lr": ..., "tokens_per_s": ..., "grad_norm": ..., "gpu_mem_gb": ...,
"elapsed_s": ...}``; validation records have ``"split": "val"`` with the same
loss fields (and BLEU / exact match when decoding is on).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformer.jsonl import read_jsonl


class MetricsLogger:
    """Append records to ``path`` (JSONL) and keep them in memory
    (``records``).

    ``resume_step``: a resumed run keeps the records up to that step and drops
    later ones (written after the checkpoint it resumes from, they would
    otherwise appear twice).
    """

    def __init__(
        self, path: str | Path | None, resume_step: int | None = None
    ) -> None:
        self.path = Path(path) if path else None
        self.records: list[dict[str, Any]] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume_step is not None and self.path.exists():
                kept = [
                    r
                    for r in read_metrics(self.path)
                    if r.get("step", 0) <= resume_step
                ]
                self.path.write_text(
                    "".join(json.dumps(r) + "\n" for r in kept)
                )

    def log(self, record: dict[str, Any]) -> None:
        record = {k: _clean(v) for k, v in record.items()}
        self.records.append(record)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(
    path: str | Path, split: str | None = None
) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file, optionally only one split
    ("train" or "val")."""
    records = read_jsonl(path)
    return [r for r in records if split is None or r.get("split") == split]


def perplexity(nll_per_token: float) -> float:
    """exp(NLL per token), from the unsmoothed loss; inf when it would
    overflow."""
    return math.exp(nll_per_token) if nll_per_token < 700 else math.inf
