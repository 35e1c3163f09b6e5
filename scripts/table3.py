r"""Train and record the rows of Table 3 (§6.2) at CPU scale.

    python scripts/table3.py list               # every row, its command, done?
    python scripts/table3.py run base A-h1      # train + record these rows
    python scripts/table3.py run base --seed 1  # another seed of the base
    python scripts/table3.py run base --precision fp32  # the base in float32
    python scripts/table3.py run --all          # every row not yet recorded

Each row is the base of ``configs/table3-cpu.toml`` with the row's change
(``transformer/table3.py``), trained with ``python -m transformer train`` into
``runs/table3-<row>`` (seed s > 0: ``table3-<row>-seed<s>``; ``--precision p``
appends ``-<p>``), then recorded as
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
from pathlib import Path

from transformer.row_runs import (
    Job,
    add_arguments,
    check_names,
    load_base,
    pin_precision,
    record,
    run_jobs,
)
from transformer.table3 import Row, run_name, table3_rows, train_command

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
    add_arguments(p, CONFIG, ROOT / "results" / "runs")
    p.add_argument(
        "--prefix",
        default="table3-",
        help=(
            "run names are <prefix><row> (default table3-; e.g. table3-paper-"
            " for the rows at the paper's size)"
        ),
    )
    args = p.parse_args()

    args.config = args.config.resolve()
    run = load_base(args.config)
    rows = {
        r.name: r for r in table3_rows(run.model_config(run.data.vocab_size))
    }
    check_names(
        args.rows, rows, "Table 3 row", "python scripts/table3.py list"
    )
    if args.rows:
        todo = [(rows[name], args.seed) for name in args.rows]
    elif args.all or args.action == "list":
        todo = [(rows["base"], s) for s in BASE_SEEDS] + [
            (r, 0) for r in rows.values() if r.name != "base"
        ]
    else:
        p.error("name the rows to run, or pass --all")

    def job(row: Row, seed: int) -> Job:
        name, pinned = pin_precision(
            run_name(row, seed, args.prefix), args.precision
        )
        run_dir = args.runs / name
        command = train_command(
            os.path.relpath(args.config), row, seed, str(run_dir)
        )
        info = {
            "table3_row": row.name,
            "block": row.block,
            "change": row.change,
            "seed": seed,
            "precision": args.precision or run.train.precision,
            "note": args.note,
        }
        return Job(
            name,
            row.change,
            command + pinned,
            run_dir,
            args.results / name,
            info,
        )

    def record_job(j: Job) -> str:
        scores = record(j.run_dir, j.out, ("val",), j.info)["val"]
        return (
            f"{j.name}: val BLEU {scores['bleu']:.2f}"
            f" ({scores['bleu_signature']}), recorded in {j.out}"
        )

    run_jobs(
        [job(row, seed) for row, seed in todo],
        args.action,
        overwrite=args.overwrite,
        done_file="eval-val.json",
        record_job=record_job,
    )


if __name__ == "__main__":
    main()
