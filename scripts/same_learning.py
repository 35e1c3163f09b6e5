"""Does the fast training path learn what float32 learns? Validation NLL of two
checkpoints, one way.

Both checkpoints (e.g. step 1,000 of the bf16 + fused-loss run and of a float32
run with the loss on full logits, same config and seed) are scored by the same
code, independent of the trainer: teacher forcing in float32 on every
validation pair, logits then ``label_smoothed_cross_entropy``.

    python scripts/same_learning.py \\
        --fast runs/multi30k-de-en-fast/checkpoints/step_00001000 \\
        --fp32 runs/multi30k-de-en-fp32/checkpoints/step_00001000 \\
        --out results/runs/multi30k-de-en-fp32/same-learning.json

``--fp32`` may also be a *recorded* float32 run (``results/runs/<name>/``,
whose checkpoints are not kept): its trainer's validation record at the fast
checkpoint's step is read from ``metrics.jsonl``. A float32 trainer validates
exactly as this script does (float32 teacher forcing on every validation pair,
label-smoothed loss and NLL per target token): for the recorded
``multi30k-de-en-fp32`` run, this script's score of its step-1,000 checkpoint
and its trainer's record agree to every digit (NLL 2.3410941626688286, both).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from transformer.checkpoint import (
    load_model,
    load_run_config,
    load_tokenizer,
)
from transformer.data import (
    TokenBatchSampler,
    collate,
    encode_pairs,
    load_pairs,
)
from transformer.train.config import RunConfig
from transformer.train.device import recorded_sampler
from transformer.train.loss import label_smoothed_cross_entropy
from transformer.train.runinfo import run_info


@torch.no_grad()
def validation_scores(path: Path) -> dict:
    run = RunConfig.from_dict(load_run_config(path), source=str(path))
    model, tokenizer = load_model(path), load_tokenizer(path)
    examples, _ = encode_pairs(
        load_pairs(run.data, "val"),
        tokenizer,
        max_len=run.data.max_len or model.config.max_len,
    )
    loss = nll = tokens = 0.0
    for indices in TokenBatchSampler(
        examples, run.train.max_tokens, shuffle=False
    ):
        batch = collate(
            [examples[i] for i in indices], pad_id=tokenizer.pad_id
        )
        out = label_smoothed_cross_entropy(
            model(batch.src, batch.tgt_in),
            batch.tgt_out,
            run.train.label_smoothing,
            tokenizer.pad_id,
        )
        loss, nll, tokens = (
            loss + out.loss.item(),
            nll + out.nll.item(),
            tokens + out.n_tokens.item(),
        )
    state = json.loads((path / "trainer_state.json").read_text())
    return {
        "checkpoint": str(path),
        "step": state["step"],
        "precision": run.train.precision,
        "fused_loss": run.train.fused_loss,
        "seed": run.train.seed,
        "dropout_masks": recorded_sampler(load_run_config(path)),
        "loss": loss / tokens,
        "nll": nll / tokens,
        "ppl": math.exp(nll / tokens),
        "tokens": tokens,
    }


def same_setup(fast: dict, fp32: dict) -> None:
    """Refuse two runs that differ in more than precision, loss and dropout
    sampler: data, model, seed, batches, schedule."""
    for key in ("data", "model"):
        # keys both configs have (a config of an older commit lacks newer ones)
        common = fast[key].keys() & fp32[key].keys()
        if any(fast[key][k] != fp32[key][k] for k in common):
            raise SystemExit(
                f"error: the two runs have different {key} settings"
                f" ({fast[key]} against {fp32[key]}); compare runs of one"
                " config"
            )
    for key in ("seed", "max_tokens", "warmup_steps", "lr_scale"):
        a, b = fast["train"].get(key), fp32["train"].get(key)
        if a != b:
            raise SystemExit(
                f"error: train.{key} differs ({a} against {b}); compare runs"
                " of one config"
            )


def recorded_scores(run_dir: Path, step: int) -> dict:
    """The validation record at ``step`` of a recorded float32 run (see the
    module docstring)."""
    if (
        not (run_dir / "run.json").is_file()
        or not (run_dir / "metrics.jsonl").is_file()
    ):
        raise SystemExit(
            f"error: {run_dir} is neither a checkpoint (trainer_state.json)"
            " nor a recorded run (run.json and metrics.jsonl); give one of"
            " the two"
        )
    run = json.loads((run_dir / "run.json").read_text())
    train = run["config"]["train"]
    if train["precision"] != "fp32":
        raise SystemExit(
            f"error: {run_dir} was trained with precision"
            f" {train['precision']!r}; only a float32 run validates as this"
            " script does (give its checkpoint instead)"
        )
    records = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if line.strip()
    ]
    val = [r for r in records if r.get("split") == "val" and r["step"] == step]
    if not val:
        steps = sorted(r["step"] for r in records if r.get("split") == "val")
        raise SystemExit(
            f"error: {run_dir}/metrics.jsonl has no validation record at step"
            f" {step} (it has {steps}); compare equal steps"
        )
    return {
        "checkpoint": None,
        "record": str(run_dir / "metrics.jsonl"),
        "step": step,
        "precision": train["precision"],
        "fused_loss": train["fused_loss"],
        "seed": train["seed"],
        "dropout_masks": recorded_sampler(run["config"]),
        "loss": val[-1]["loss"],
        "nll": val[-1]["nll"],
        "ppl": math.exp(val[-1]["nll"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--fast", type=Path, required=True, help="checkpoint of the fast run"
    )
    p.add_argument(
        "--fp32",
        type=Path,
        required=True,
        help=(
            "checkpoint of the float32 run, same step; or a recorded float32"
            " run folder (results/runs/<name>) to read its validation record"
        ),
    )
    p.add_argument("--out", type=Path, help="write the comparison here (JSON)")
    args = p.parse_args()
    fast = validation_scores(args.fast)
    if (args.fp32 / "trainer_state.json").is_file():
        fp32 = validation_scores(args.fp32)
        fp32_config = load_run_config(args.fp32)
    else:
        fp32 = recorded_scores(args.fp32, fast["step"])
        fp32_config = json.loads((args.fp32 / "run.json").read_text())[
            "config"
        ]
    same_setup(load_run_config(args.fast), fp32_config)
    if fast["step"] != fp32["step"]:
        raise SystemExit(
            f"error: the checkpoints are at steps {fast['step']} and"
            f" {fp32['step']}; compare equal steps"
        )
    diff = fast["nll"] / fp32["nll"] - 1
    print(
        f"step {fast['step']}: validation NLL fast {fast['nll']:.4f}, fp32"
        f" {fp32['nll']:.4f} ({100 * diff:+.2f}%)"
    )
    if args.out:
        record = {
            "benchmark": "same_learning",
            "fast": fast,
            "fp32": fp32,
            "relative_nll_difference": diff,
            **run_info(torch.device("cpu"), 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
