"""Does the fast training path learn what float32 learns? Validation NLL of two
checkpoints, one way.

Both checkpoints (e.g. step 1,000 of the bf16 + fused-loss run and of a float32
run with the loss on full logits, same config and seed) are scored by the same
code, independent of the trainer: teacher forcing in float32 on every
validation pair, logits then ``label_smoothed_cross_entropy``.

    python scripts/same_learning.py --fast runs/multi30k-de-en-step1000 \\
        --fp32 runs/multi30k-de-en-fp32/checkpoints/step_00001000 \\
        --out results/runs/multi30k-de-en-fp32/same-learning.json
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
        "loss": loss / tokens,
        "nll": nll / tokens,
        "ppl": math.exp(nll / tokens),
        "tokens": tokens,
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
        help="checkpoint of the float32 run, same step",
    )
    p.add_argument("--out", type=Path, help="write the comparison here (JSON)")
    args = p.parse_args()
    fast, fp32 = validation_scores(args.fast), validation_scores(args.fp32)
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
