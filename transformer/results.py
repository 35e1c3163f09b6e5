"""Recorded training runs, as the book's Results chapters read them (layout:
``results/README.md``).

A *recorded run* is a folder ``results/runs/<name>/`` holding what the trainer
wrote into its ``out_dir`` (``run.json``: config, seed, versions, hardware, git
commit, wall time; ``metrics.jsonl``: the loss curves) and the scores of its
decoded output, ``eval-<split>.json``, each the verbatim output of ``python -m
transformer evaluate ... --split <split> --json`` (sacreBLEU and chrF with
their signatures). Checkpoints are never recorded: they are large and the
numbers do not need them.

::

    from transformer.results import load_runs, summary_rows
    runs = load_runs("results/runs")  # {} when nothing has been recorded
    rows = summary_rows(runs.values())  # one dict per run, with provenance
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformer.jsonl import read_jsonl

RUN_FILE, METRICS_FILE, EVAL_PREFIX = "run.json", "metrics.jsonl", "eval-"


@dataclass
class RecordedRun:
    """One recorded run: ``run.json``, its metric records and its
    ``eval-<split>.json`` scores."""

    name: str
    path: Path
    info: dict[str, Any]  # run.json
    # metrics.jsonl records
    metrics: list[dict[str, Any]] = field(default_factory=list)
    # split -> evaluate --json output
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        return self.info.get("config", {})

    def records(self, split: str) -> list[dict[str, Any]]:
        """Metric records of one split ("train" or "val"), in step order."""
        return sorted(
            (r for r in self.metrics if r.get("split") == split),
            key=lambda r: r["step"],
        )

    def last_val(self) -> dict[str, Any] | None:
        """The last validation record (the final validation of the run), or
        None."""
        val = self.records("val")
        return val[-1] if val else None

    def trained_on(self) -> str:
        """Where the run trained and in which precision, for a table:
        "2 CPU cores (AMD EPYC), float32", "1 × NVIDIA H200, bfloat16".
        ``train.precision = "auto"`` is bf16 autocast on a CPU with bf16
        instructions and float32 on one without; run.json's ``autocast``
        records which (runs recorded before it existed: "precision not
        recorded")."""
        hw = self.info.get("hardware", {})
        if hw.get("device") == "cpu":
            cpu = (
                hw.get("cpu", "").replace("(R)", "").replace(" Processor", "")
            ).strip()
            where = f"{hw.get('cpu_count', '?')} CPU cores" + (
                f" ({cpu})" if cpu else ""
            )
        else:
            where = f"{hw.get('world_size', 1)} × {hw.get('name', '?')}"
        if "autocast" not in self.info:
            return f"{where}, precision not recorded"
        return f"{where}, {self.info['autocast'] or 'float32'}"

    def attention_precision(self) -> str | None:
        """What the run computed attention's scores and softmax in:
        ``run.json``'s ``attention_precision``. Runs recorded before it
        existed: float32 without autocast, and on the CPU for the paper's
        scaled dot product (its fused path attended in float32); the
        autocast dtype for the other scoring functions, which computed
        theirs in it; None where the autocast was not recorded. A run
        resumed across the change, its segments differing: "mixed"."""
        segments = [self.info, *self.info.get("earlier_segments", [])]
        found = {self._segment_attention(s) for s in segments}
        if len(found) > 1:
            return "mixed"
        return found.pop()

    def _segment_attention(self, segment: dict[str, Any]) -> str | None:
        if "attention_precision" in segment:
            return segment["attention_precision"]
        if "autocast" not in segment:
            return None
        if segment["autocast"] is None:
            return "float32"
        scoring = self.config.get("model", {}).get(
            "attention_scoring", "scaled_dot"
        )
        hardware = segment.get("hardware", self.info.get("hardware", {}))
        if scoring == "scaled_dot" and hardware.get("device") == "cpu":
            return "float32"
        return segment["autocast"]

    def provenance(self) -> dict[str, Any]:
        """Where the numbers come from: hardware, versions, commit, seed,
        steps, wall time, command."""
        hardware = self.info.get("hardware", {})
        train = self.config.get("train", {})
        return {
            "hardware": (
                f"{hardware.get('world_size', 1)} x"
                f" {hardware.get('name', '?')}"
            ),
            "torch": self.info.get("versions", {}).get("torch"),
            "git_commit": self.info.get("git_commit"),
            "seed": train.get("seed"),
            "steps": self.info.get("final_step"),
            "wall_time_s": self.info.get("wall_time_s"),
            "started": self.info.get("started"),
            "command": " ".join(self.info.get("command", [])) or None,
        }


def load_run(path: str | Path) -> RecordedRun:
    """Read one recorded run folder; ``run.json`` is required, the rest
    optional."""
    path = Path(path)
    run_file = path / RUN_FILE
    if not run_file.is_file():
        raise FileNotFoundError(
            f"{run_file} not found: a recorded run needs the run.json its"
            " training wrote"
        )
    info = json.loads(run_file.read_text())
    metrics = (
        read_jsonl(path / METRICS_FILE)
        if (path / METRICS_FILE).is_file()
        else []
    )
    evals = {}
    for file in sorted(path.glob(f"{EVAL_PREFIX}*.json")):
        scores = json.loads(file.read_text())
        if "bleu" not in scores or "bleu_signature" not in scores:
            raise ValueError(
                f"{file} is not the output of `python -m transformer evaluate"
                " --json`"
            )
        evals[file.stem[len(EVAL_PREFIX) :]] = scores
    return RecordedRun(path.name, path, info, metrics, evals)


def load_runs(root: str | Path = "results/runs") -> dict[str, RecordedRun]:
    """Every recorded run under ``root`` by folder name (sorted); empty if
    ``root`` does not exist."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {
        p.name: load_run(p)
        for p in sorted(root.iterdir())
        if (p / RUN_FILE).is_file()
    }


def summary_rows(
    runs: Iterable[RecordedRun], split: str = "test"
) -> list[dict[str, Any]]:
    """One row per run: task and direction, size, final validation perplexity,
    the scores of ``split`` (BLEU, lowercased BLEU, chrF, with the BLEU
    signature) and the provenance. Missing values are None."""
    rows = []
    for run in runs:
        data, model = run.config.get("data", {}), run.config.get("model", {})
        val, scores = run.last_val(), run.evals.get(split, {})
        rows.append(
            {
                "run": run.name,
                "task": data.get("task"),
                "direction": f"{data.get('src_lang')}→{data.get('tgt_lang')}",
                "model": model.get("preset"),
                "parameters": run.info.get("parameters"),
                "val_ppl": val.get("ppl") if val else None,
                "bleu": scores.get("bleu"),
                "bleu_lc": scores.get("bleu_lc"),
                "chrf": scores.get("chrf"),
                "sentences": scores.get("n_sentences"),
                "bleu_signature": scores.get("bleu_signature"),
                **run.provenance(),
            }
        )
    return rows
