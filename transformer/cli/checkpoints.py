"""``python -m transformer average`` and ``export``: new checkpoints and model
folders made from saved ones."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_average_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "average",
        help="average the weights of the last N checkpoints (§6.1)",
        description=(
            "Average checkpoint weights (§6.1: the last 5 for base models, the"
            " last 20 for big ones) into a new checkpoint that translate and"
            " evaluate accept."
        ),
    )
    p.add_argument(
        "checkpoints",
        nargs="*",
        type=Path,
        help="checkpoint directories to average",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        help="take the newest --last checkpoints of this run instead",
    )
    p.add_argument(
        "--last",
        type=int,
        default=5,
        help="how many of the run's newest checkpoints (default 5)",
    )
    p.add_argument(
        "--output",
        type=Path,
        required=True,
        help="a new directory for the averaged checkpoint",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUTPUT if it holds an earlier average (nothing else)",
    )
    p.set_defaults(run=_average)


def _average(args: argparse.Namespace) -> int:
    from transformer.checkpoint import list_checkpoints
    from transformer.train.average import average_checkpoints

    paths = list(args.checkpoints)
    if args.run_dir:
        if args.last < 1:
            raise ValueError(f"--last must be at least 1, got {args.last}")
        found = list_checkpoints(args.run_dir / "checkpoints")
        if len(found) < args.last:
            raise ValueError(
                f"{args.run_dir / 'checkpoints'} holds {len(found)}"
                f" checkpoints, fewer than --last {args.last}"
            )
        paths += found[-args.last :]
    if not paths:
        raise ValueError("give checkpoint directories or --run-dir")
    out = average_checkpoints(paths, args.output, overwrite=args.overwrite)
    print(
        f"averaged {len(paths)} checkpoints"
        f" ({', '.join(p.name for p in paths)}) into {out}"
    )
    return 0


def add_export_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "export",
        help=(
            "write a checkpoint as a small model folder to ship (fp16 weights,"
            " configs, tokenizer)"
        ),
        description=(
            "Write a checkpoint's weights (default float16: half the bytes)"
            " with its model and run configs and its tokenizer into a new"
            " folder, which translate --model and"
            " transformer.pretrained.load_translator read. No optimizer or"
            " random state."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        type=Path,
        help="a checkpoint directory (e.g. an averaged one)",
    )
    p.add_argument(
        "--output",
        required=True,
        type=Path,
        help="a new folder for the exported model",
    )
    p.add_argument(
        "--dtype",
        default="fp16",
        choices=("fp16", "bf16", "fp32"),
        help="weight precision (default fp16)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUTPUT if it holds an earlier export (nothing else)",
    )
    p.set_defaults(run=_export)


def _export(args: argparse.Namespace) -> int:
    from transformer.pretrained import export_model

    out = export_model(
        args.model, args.output, dtype=args.dtype, overwrite=args.overwrite
    )
    size = sum(f.stat().st_size for f in out.iterdir())
    print(
        f"exported {args.model} ({args.dtype}) to {out}:"
        f" {size / 2**20:.1f} MiB"
    )
    return 0
