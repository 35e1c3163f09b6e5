r"""Train and record the comparisons of the chapters before and after the
paper: encoder-decoder vs decoder-only vs prefix LM, the paper's block vs the
LLaMA-era block, and the scoring functions of §3.2.1 as d_k grows.

    python scripts/compare.py list                      # every row, done?
    python scripts/compare.py run base decoder-only prefix-lm
    python scripts/compare.py run --group block         # one group
    python scripts/compare.py run --all                 # every row not done
    python scripts/compare.py measure dot-dk128         # measurements again

Each row is the base of ``configs/table3-cpu.toml`` (Table 3's base at CPU
scale) with the row's change (``transformer/comparisons.py``), trained with
``python -m transformer train`` into ``runs/compare-<row>`` at the base's
budget, then recorded: the validation and test splits decoded with beam search
(beam 4, α = 0.6) from the **last** checkpoint, without averaging, into
``results/runs/compare-<row>/`` (``run.json``, ``metrics.jsonl``,
``eval-{val,test}.json``, ``hyps-{val,test}.txt``, ``record.json``), with
two measurements of its attention on the first 100 validation sentences: how
saturated its softmax is (``attention-saturation.json``,
``transformer/saturation.py``) and the ranks of its attention matrices
(``attention-spectra.json``, ``transformer/rank.py``).

A row already recorded is skipped (``--overwrite`` re-records it); a row whose
training was interrupted resumes from its newest checkpoint. ``--precision p``
trains a row at a pinned precision as ``compare-<row>-<p>``: a check beside the
row, which the chapters do not read in its place. ``measure`` writes the two
measurements again for recorded rows from the last checkpoint in
``runs/compare-<row>``, for a row recorded before a measurement existed.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from transformer.checkpoint import list_checkpoints, load_model, load_tokenizer
from transformer.comparisons import Variant, run_name, train_command, variants
from transformer.data import encode_pairs, load_pairs
from transformer.rank import attention_spectra
from transformer.row_runs import (
    Job,
    add_arguments,
    check_names,
    load_base,
    pin_precision,
    record,
    run_jobs,
)
from transformer.saturation import attention_saturation
from transformer.train.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "table3-cpu.toml"
GROUPS = ("base", "architecture", "block", "scoring")
SPECTRA_SENTENCES = 100  # validation pairs whose attention is measured


def record_attention(run_dir: Path, out: Path) -> None:
    """Two measurements of the last checkpoint's attention on the first
    validation pairs: the saturation of its softmax rows
    (``transformer/saturation.py``), for the chapter before the paper, then
    the ranks of its attention matrices (``transformer/rank.py``), for the
    chapter after it: ``attention-saturation.json``, then
    ``attention-spectra.json`` (the file a finished record is known by)."""
    checkpoints = list_checkpoints(run_dir / "checkpoints")
    if not checkpoints:
        raise FileNotFoundError(
            f"no checkpoint in {run_dir / 'checkpoints'} to measure; train"
            " the row there first (python scripts/compare.py run <row>), or"
            " pass --runs with the folder that holds its run"
        )
    last = checkpoints[-1]
    model, tokenizer = load_model(last), load_tokenizer(last)
    trained = json.loads((run_dir / "run.json").read_text())
    run = RunConfig.from_dict(trained["config"], source=str(run_dir))
    pairs = load_pairs(run.data, "val")[:SPECTRA_SENTENCES]
    examples, _ = encode_pairs(pairs, tokenizer)
    inputs = [(s, t[:-1]) for s, t in examples]
    measured = {"sentences": len(examples), "split": "val"}
    for file, kinds in (
        ("attention-saturation.json", attention_saturation(model, inputs)),
        ("attention-spectra.json", attention_spectra(model, inputs)),
    ):
        (out / file).write_text(
            json.dumps({**measured, "kinds": kinds}, indent=2) + "\n"
        )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action",
        choices=("list", "run", "measure"),
        help="list the rows; train and record them; or measure recorded"
        " rows' attention again from their checkpoints",
    )
    p.add_argument("rows", nargs="*", help="row names, e.g. decoder-only")
    p.add_argument("--all", action="store_true", help="every row")
    p.add_argument(
        "--group", choices=GROUPS, help="every row of one group (and base)"
    )
    add_arguments(p, CONFIG, ROOT / "results" / "runs")
    args = p.parse_args()

    args.config = args.config.resolve()
    run = load_base(args.config)
    rows = {v.name: v for v in variants(run.model_config(run.data.vocab_size))}
    check_names(
        args.rows, rows, "comparison", "python scripts/compare.py list"
    )
    if args.rows:
        todo = [rows[name] for name in args.rows]
    elif args.group:
        todo = [v for v in rows.values() if v.group in ("base", args.group)]
    elif args.all or args.action == "list":
        todo = list(rows.values())
    else:
        p.error("name the rows to run or measure, or pass --group or --all")

    def job(variant: Variant) -> Job:
        name, pinned = pin_precision(
            run_name(variant, args.seed), args.precision
        )
        run_dir = args.runs / name
        command = (
            train_command(
                os.path.relpath(args.config), variant, args.seed, str(run_dir)
            )
            + pinned
        )
        info = {
            "comparison": variant.name,
            "group": variant.group,
            "change": variant.change,
            "seed": args.seed,
            "precision": args.precision or run.train.precision,
            "note": args.note,
        }
        label = f"{variant.group}: {variant.change}"
        return Job(name, label, command, run_dir, args.results / name, info)

    def record_job(j: Job) -> str:
        scores = record(j.run_dir, j.out, ("val", "test"), j.info)
        record_attention(j.run_dir, j.out)
        return (
            f"{j.name}: val BLEU {scores['val']['bleu']:.2f}, test BLEU"
            f" {scores['test']['bleu']:.2f}"
            f" ({scores['test']['bleu_signature']}), recorded in {j.out}"
        )

    if args.action == "measure":
        for j in map(job, todo):
            missing = (
                "is not recorded"
                if not (j.out / "record.json").is_file()
                else "has no checkpoint"
                if not list_checkpoints(j.run_dir / "checkpoints")
                else None
            )
            if missing and not args.rows:  # --all, --group: what can be
                print(f"{j.name}: {missing}, not measured")
                continue
            if missing == "is not recorded":
                p.error(
                    f"{j.name} is not recorded in {j.out}; train and record"
                    f" it first: python scripts/compare.py run"
                    f" {j.info['comparison']}"
                )
            record_attention(j.run_dir, j.out)  # says where to find one
            print(f"{j.name}: attention measured again, in {j.out}")
        return
    run_jobs(
        [job(v) for v in todo],
        args.action,
        overwrite=args.overwrite,
        # the file written last: a record cut short is done again
        done_file="attention-spectra.json",
        record_job=record_job,
    )


if __name__ == "__main__":
    main()
