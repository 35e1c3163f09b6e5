"""Train a row of a comparison table and record it: what ``scripts/table3.py``
(Table 3) and ``scripts/compare.py`` (the before/after-the-paper comparisons)
share.

A row is a base config plus ``--set`` overrides, trained with ``python -m
transformer train`` into ``runs/<name>``; an interrupted row resumes from its
newest checkpoint. Recording decodes the chosen splits with beam search from
the **last** checkpoint, without averaging (as Table 3 is measured), and writes
``results/runs/<name>/``: the trainer's ``run.json`` and ``metrics.jsonl``,
``eval-<split>.json`` (sacreBLEU with its signature), ``hyps-<split>.txt`` and
``record.json`` (provenance, the caller's fields).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from transformer.checkpoint import list_checkpoints, load_model, load_tokenizer
from transformer.data import load_pairs
from transformer.evaluation import evaluate_translations
from transformer.train.config import RunConfig
from transformer.train.runinfo import run_info


def finished(run_dir: Path) -> bool:
    """The trainer ran to max_steps (an interrupted run is resumed, not
    recorded)."""
    path = run_dir / "run.json"
    return (
        path.is_file()
        and json.loads(path.read_text()).get("status") == "finished"
    )


def train(name: str, command: list[str], run_dir: Path) -> None:
    """Run ``command`` (``python -m transformer train ...``) unless the run
    has finished: resumed from its newest checkpoint, or started over in a
    folder without one (it holds nothing to lose)."""
    if finished(run_dir):
        return
    resume = (
        ["--resume"]
        if list_checkpoints(run_dir / "checkpoints")
        else ["--overwrite"]
        if run_dir.exists()
        else []
    )
    print(f"{name}: {' '.join(command + resume)}", flush=True)
    code = subprocess.call(
        [sys.executable, *command[1:], *resume], cwd=Path.cwd()
    )
    if code != 0 or not finished(run_dir):
        raise RuntimeError(f"training {name} failed (exit {code})")


def record(
    run_dir: Path,
    out: Path,
    splits: tuple[str, ...],
    info: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Decode ``splits`` from the last checkpoint of ``run_dir`` with the
    run's beam size and α; write the record into ``out``. Returns each split's
    evaluation (sacreBLEU scores, decoding settings and time)."""
    started = time.perf_counter()
    last = list_checkpoints(run_dir / "checkpoints")[-1]
    trained = json.loads((run_dir / "run.json").read_text())
    run = RunConfig.from_dict(trained["config"], source=str(run_dir))
    model, tokenizer = load_model(last), load_tokenizer(last)
    beam, alpha = run.decode.beam_size, run.decode.alpha
    out.mkdir(parents=True, exist_ok=True)
    evaluations = {}
    for split in splits:
        t0 = time.perf_counter()
        scores, hyps = evaluate_translations(
            model,
            tokenizer,
            load_pairs(run.data, split),
            beam_size=beam,
            alpha=alpha,
        )
        evaluation = {
            **scores.to_dict(),
            "beam_size": beam,
            "alpha": alpha,
            "decode_s": time.perf_counter() - t0,
            "model": {"path": str(last), "steps": [trained["final_step"]]},
        }
        (out / f"eval-{split}.json").write_text(
            json.dumps(evaluation, indent=2) + "\n"
        )
        (out / f"hyps-{split}.txt").write_text("".join(h + "\n" for h in hyps))
        evaluations[split] = evaluation
    for file in ("run.json", "metrics.jsonl"):
        shutil.copyfile(run_dir / file, out / file)
    (out / "record.json").write_text(
        json.dumps(
            {
                **run_info(torch.device("cpu"), 1),
                **info,
                "parameters": model.num_parameters(),
                "record_wall_s": time.perf_counter() - started,
            },
            indent=2,
        )
        + "\n"
    )
    return evaluations
