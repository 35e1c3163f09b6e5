"""Where one training step's time goes: torch.profiler on the real trainer, real Multi30k batches.

The step is the trainer's own ``Trainer._train_step`` (collate, forward, loss, backward, gradient
norm, Adam) with the run config given (default: ``configs/multi30k.toml``, the small preset). Every
operator's self time is put in one bucket:

- ``data``: collating (padding) the step's micro-batches;
- ``output projection``: the tied pre-softmax matmul (§3.4) and its gradients (shapes with V columns);
- ``loss over the vocabulary``: log-softmax, label smoothing and their backward on (N, V) tensors;
- ``linear layers``: every other matmul (W^Q, W^K, W^V, W^O, the feed-forward layers);
- ``attention``: the fused scaled dot-product attention kernels (Eq. 1) and their backward;
- ``layer norm``, ``dropout``, ``embeddings``, ``casts`` (dtype conversions: autocast's bf16 copies);
- ``optimizer``: gradient norm and Adam;
- ``other``: everything else (residual adds, ReLU, masks, reshapes...).

    python benchmarks/profile_train_step.py --set train.precision=fp32 --out results/benchmarks/cpu-profile-small-fp32.json
    python benchmarks/profile_train_step.py --set train.precision=bf16 --out results/benchmarks/cpu-profile-small-bf16.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from transformer.train import RunConfig, Trainer
from transformer.train.runinfo import run_info

BUCKETS = (
    "linear layers", "attention", "output projection", "loss over the vocabulary", "layer norm",
    "dropout", "embeddings", "casts", "optimizer", "data", "other",
)
PHASES = ("data", "forward", "loss", "backward", "optimizer")
MATMULS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear", "aten::_addmm_activation"}


def bucket_of(name: str, shapes: list, phase: str, vocab: int) -> str:
    """The bucket of one operator event (see the module docstring)."""
    if phase in ("data", "optimizer"):
        return phase
    has_vocab = any(isinstance(s, (list, tuple)) and vocab in s for s in shapes)
    if "embedding" in name:
        return "embeddings"
    if name in MATMULS:
        return "output projection" if has_vocab else "linear layers"
    if "scaled_dot_product" in name or "flash_attention" in name or "efficient_attention" in name:
        return "attention"
    if "layer_norm" in name:
        return "layer norm"
    if "dropout" in name or "bernoulli" in name:
        return "dropout"
    if name in ("aten::to", "aten::_to_copy", "aten::copy_") and phase != "loss":
        return "casts"
    if has_vocab or phase == "loss":
        return "loss over the vocabulary"
    return "other"


def phase_of(event) -> str | None:
    """The outermost trainer label (data, forward, loss, backward, optimizer) above ``event``."""
    found, e = None, event
    while e is not None:
        if e.name in PHASES:
            found = e.name
        e = e.cpu_parent
    return found


def profile_steps(trainer: Trainer, steps: int) -> dict:
    vocab = trainer.tokenizer.vocab_size
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        started = time.perf_counter()
        tokens = 0.0
        for _ in range(steps):
            tokens += trainer._train_step()["tokens"]
        wall = time.perf_counter() - started
    buckets: dict[str, float] = defaultdict(float)
    phases: dict[str, float] = defaultdict(float)
    for event in prof.events():
        phase = phase_of(event)
        if phase is None or event.name in PHASES:
            continue
        self_us = event.self_cpu_time_total
        buckets[bucket_of(event.name, event.input_shapes or [], phase, vocab)] += self_us
        phases[phase] += self_us
    total = sum(buckets.values())
    return {
        "steps": steps, "target_tokens": tokens, "wall_s": wall, "profiled_tokens_per_s": tokens / wall,
        "buckets_ms_per_step": {k: buckets.get(k, 0.0) / 1e3 / steps for k in BUCKETS},
        "buckets_share": {k: buckets.get(k, 0.0) / total for k in BUCKETS},
        "phases_ms_per_step": {k: phases.get(k, 0.0) / 1e3 / steps for k in PHASES},
        "top_ops": [
            {"name": a.key, "self_ms_per_step": a.self_cpu_time_total / 1e3 / steps, "calls": a.count}
            for a in sorted(prof.key_averages(), key=lambda a: -a.self_cpu_time_total)[:15]
        ],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/multi30k.toml", help="run config (default: configs/multi30k.toml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.precision=bf16 (repeatable)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: 5)")
    p.add_argument("--steps", type=int, default=10, help="profiled steps (default: 10)")
    p.add_argument("--out", type=Path, help="also write the results, args and run info to this JSON file")
    args = p.parse_args()

    overrides = [*args.overrides, "train.out_dir=''", "train.progress=false", "train.eval_every=0"]
    config = RunConfig.from_toml(args.config, overrides)
    started = time.perf_counter()
    trainer = Trainer(config)
    for _ in range(args.warmup):
        trainer._train_step()
    result = profile_steps(trainer, args.steps)
    precision = config.train.precision
    print(f"# {args.config} {' '.join(args.overrides)}: precision={precision} compile={config.train.compile} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}")
    print(f"{result['profiled_tokens_per_s']:,.0f} target tokens/s under the profiler, {args.steps} steps")
    print("| bucket | ms / step | share |\n|---|---|---|")
    for k in BUCKETS:
        print(f"| {k} | {result['buckets_ms_per_step'][k]:.1f} | {100 * result['buckets_share'][k]:.1f}% |")
    print("top operators (self time per step):")
    for op in result["top_ops"]:
        print(f"  {op['self_ms_per_step']:8.1f} ms  {op['calls']:5d} calls  {op['name']}")
    if args.out:
        record = {"benchmark": "train_step_profile", "args": {k: str(v) for k, v in vars(args).items()},
                  "config": config.to_dict(), "results": result, "wall_s": time.perf_counter() - started,
                  **run_info(torch.device("cpu"), 1)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
