r"""Train and record the rows of Table 3 (§6.2) at CPU scale.

    python scripts/table3.py list               # every row, its command, done?
    python scripts/table3.py run base A-h1      # train + record these rows
    python scripts/table3.py run base --seed 1  # another seed of the base
    python scripts/table3.py run --all          # every row not yet recorded

Each row is the base of ``configs/table3-cpu.toml`` with the row's change
(``transformer/table3.py``), trained with ``python -m transformer train`` into
``runs/table3-<row>`` (seed s > 0: ``table3-<row>-seed<s>``), then recorded as
the paper's Table 3 measures it: the validation split decoded with beam search
(beam 4, α = 0.6) from the **last** checkpoint, without averaging. The
record, written to ``results/runs/table3-<row>/``, holds the trainer's
``run.json`` and ``metrics.jsonl`` (dev perplexity: the last validation
record), ``eval-val.json`` (sacreBLEU with its signature), ``hyps-val.txt`` and
``record.json``.

A row already recorded is skipped (``--overwrite`` re-records it); a row whose
training was interrupted resumes from its newest checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from transformer.row_runs import record, train
from transformer.table3 import run_name, table3_rows, train_command
from transformer.train.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "table3-cpu.toml"
BASE_SEEDS = (0, 1, 2)  # the base row's seeds: the table's noise


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=("list", "run"))
    p.add_argument("rows", nargs="*", help="row names, e.g. base A-h1 big")
    p.add_argument(
        "--all",
        action="store_true",
        help=f"every row, and the base with seeds {BASE_SEEDS}",
    )
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument(
        "--config", type=Path, default=CONFIG, help="the base row's config"
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
        default=ROOT / "results" / "runs",
        help="where records go (default results/runs)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="re-record rows already under --results",
    )
    p.add_argument(
        "--prefix",
        default="table3-",
        help=(
            "run names are <prefix><row> (default table3-; e.g. table3-paper-"
            " for the rows at the paper's size)"
        ),
    )
    p.add_argument("--note", default="", help="stored in record.json")
    args = p.parse_args()

    args.config = args.config.resolve()
    if not args.config.is_file():
        sys.exit(f"error: no config at {args.config}; pass --config FILE")
    run = RunConfig.from_toml(args.config)
    rows = {
        r.name: r for r in table3_rows(run.model_config(run.data.vocab_size))
    }
    unknown = [name for name in args.rows if name not in rows]
    if unknown:
        sys.exit(
            f"error: no Table 3 row named {', '.join(unknown)}; the rows are"
            f" {', '.join(rows)} (python scripts/table3.py list)"
        )
    if args.all:
        todo = [(rows["base"], s) for s in BASE_SEEDS] + [
            (r, 0) for r in rows.values() if r.name != "base"
        ]
    elif args.rows:
        todo = [(rows[name], args.seed) for name in args.rows]
    elif args.action == "list":
        todo = [(rows["base"], s) for s in BASE_SEEDS] + [
            (r, 0) for r in rows.values() if r.name != "base"
        ]
    else:
        sys.exit("error: name the rows to run, or pass --all")

    for row, seed in todo:
        name = run_name(row, seed, args.prefix)
        out, run_dir = args.results / name, args.runs / name
        command = train_command(
            os.path.relpath(args.config), row, seed, str(run_dir)
        )
        done = (out / "eval-val.json").is_file()
        if args.action == "list":
            print(
                f"# {name} ({row.change}): "
                + ("recorded" if done else "not recorded")
            )
            print(" ".join(command))
            continue
        if done and not args.overwrite:
            print(
                f"{name}: recorded in {out}, skipping (--overwrite"
                " re-records it)",
                flush=True,
            )
            continue
        try:
            train(name, command, run_dir)
        except RuntimeError as e:
            sys.exit(f"error: {e}")
        info = {
            "table3_row": row.name,
            "block": row.block,
            "change": row.change,
            "seed": seed,
            "note": args.note,
        }
        scores = record(run_dir, out, ("val",), info)["val"]
        print(
            f"{name}: val BLEU {scores['bleu']:.2f}"
            f" ({scores['bleu_signature']}), recorded in {out}",
            flush=True,
        )


if __name__ == "__main__":
    main()
