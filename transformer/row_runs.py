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

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from transformer.checkpoint import list_checkpoints, load_model, load_tokenizer
from transformer.data import load_pairs
from transformer.evaluation import evaluate_translations
from transformer.train.config import RunConfig, toml_value
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


@dataclass(frozen=True)
class Job:
    """One row to train and record: ``command`` trains into ``run_dir``, the
    record goes to ``out`` with ``info`` in its ``record.json``; ``label`` is
    what ``list`` prints beside the name."""

    name: str
    label: str
    command: list[str]
    run_dir: Path
    out: Path
    info: dict[str, Any]


def add_arguments(
    p: argparse.ArgumentParser, config: Path, results: Path
) -> None:
    """The options both scripts take: ``--seed``, ``--precision``,
    ``--config``, ``--runs``, ``--results``, ``--overwrite``, ``--note``."""
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help=(
            "train at this precision instead of the config's ('auto': bf16"
            " autocast where oneDNN runs bf16, on AVX-512 CPUs and newer;"
            " float32 elsewhere, e.g. AVX2 only); the run's name gets"
            " -<precision> (table3-base-seed1-fp32). E.g. `run base"
            " --precision fp32` measures what the precision alone changes"
        ),
    )
    p.add_argument(
        "--config", type=Path, default=config, help="the base row's config"
    )
    p.add_argument(
        "--runs",
        type=Path,
        default=Path("runs"),
        help="where the trainer writes (default runs/)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=results,
        help="where records go (default results/runs)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="re-record rows already under --results",
    )
    p.add_argument("--note", default="", help="stored in record.json")


PRECISIONS = ("bf16", "fp32")


def pin_precision(name: str, precision: str | None) -> tuple[str, list[str]]:
    """A row trained at a pinned ``precision`` (None: the config's): its name,
    with ``-<precision>`` appended, and the arguments to append to its
    training command (the ``train.precision`` override)."""
    if precision is None:
        return name, []
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {PRECISIONS} or None, got {precision!r}"
        )
    return f"{name}-{precision}", [
        "--set",
        f"train.precision={toml_value(precision)}",
    ]


def load_base(config: Path) -> RunConfig:
    """The base row's config, or exit with the option that fixes it."""
    if not config.is_file():
        sys.exit(f"error: no config at {config}; pass --config FILE")
    return RunConfig.from_toml(config)


def check_names(
    names: Iterable[str], known: Iterable[str], what: str, listing: str
) -> None:
    """Exit naming every unknown row and the known ones."""
    known = list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        sys.exit(
            f"error: no {what} named {', '.join(unknown)}; the rows are"
            f" {', '.join(known)} ({listing})"
        )


def run_jobs(
    jobs: Iterable[Job],
    action: str,
    *,
    overwrite: bool,
    done_file: str,
    record_job: Callable[[Job], str],
) -> None:
    """``list``: print each job's name, state and command. ``run``: train and
    record each job not yet recorded (a record is done once ``done_file``, the
    file it writes last, exists); ``record_job`` records a trained job and
    returns the line to print."""
    if action == "list":
        try:
            for job in jobs:
                done = (job.out / done_file).is_file()
                state = "recorded" if done else "not recorded"
                print(f"# {job.name} ({job.label}): {state}")
                print(" ".join(job.command), flush=True)
        except BrokenPipeError:  # `list | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    for job in jobs:
        done = (job.out / done_file).is_file()
        if done and not overwrite:
            print(
                f"{job.name}: recorded in {job.out}, skipping (--overwrite"
                " re-records it)",
                flush=True,
            )
            continue
        try:
            train(job.name, job.command, job.run_dir)
        except RuntimeError as e:
            sys.exit(f"error: {e}")
        print(record_job(job), flush=True)
