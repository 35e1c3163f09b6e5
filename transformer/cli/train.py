"""``python -m transformer train``: train a model from a TOML config."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "train",
        help="train a model from a TOML config",
        description=(
            "Train a Transformer as described by a TOML config (see configs/)."
            " Works unchanged under torchrun --nproc_per_node=N (distributed"
            " data parallel; only rank 0 writes). Ctrl-C saves a checkpoint"
            " and stops; --resume continues from the newest checkpoint."
        ),
    )
    p.add_argument(
        "config",
        type=Path,
        help="TOML file with [data], [model], [train] and [decode] tables",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help=(
            "override one config value, TOML syntax, repeatable: --set"
            " train.max_steps=100 --set model.d_model=128 --set data.task=copy"
        ),
    )
    p.add_argument(
        "--out-dir",
        help=(
            "where checkpoints, metrics.jsonl and run.json go (="
            " train.out_dir)"
        ),
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in the out dir",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=(
            "start over in an out dir that holds a run: deletes its"
            " checkpoints, metrics.jsonl and run.json (without --resume or"
            " --overwrite, such a folder is refused)"
        ),
    )
    p.add_argument(
        "--max-steps",
        type=int,
        help="number of optimizer steps (= train.max_steps)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar or messages (= train.progress=false)",
    )
    p.set_defaults(run=_train)


def _train(args: argparse.Namespace) -> int:
    from transformer.train.config import RunConfig
    from transformer.train.trainer import Trainer, TrainingDivergedError

    overrides = list(args.overrides)
    if args.out_dir is not None:
        overrides.append(f"train.out_dir={json.dumps(args.out_dir)}")
    if args.resume:
        overrides.append("train.resume=true")
    if args.overwrite:
        overrides.append("train.overwrite=true")
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.no_progress:
        overrides.append("train.progress=false")
    config = RunConfig.from_toml(args.config, overrides)
    start = time.perf_counter()
    trainer = Trainer(config)
    try:
        history = trainer.fit()
    except TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        trainer.close()
    if trainer.is_main:
        val = [r for r in history if r["split"] == "val"]
        print(
            f"trained {trainer.step} steps in"
            f" {time.perf_counter() - start:.1f} s"
            + (" (interrupted)" if trainer.interrupted else "")
        )
        if val:
            print(
                "validation: "
                + ", ".join(
                    f"{k}={v:.4g}"
                    for k, v in val[-1].items()
                    if isinstance(v, float)
                )
            )
        if trainer.ckpt_dir is not None:
            print(f"checkpoints: {trainer.ckpt_dir}")
    return 130 if trainer.interrupted else 0
