r"""Where one training step's time goes: torch.profiler on the real trainer,
real Multi30k batches.

The step is the trainer's own ``Trainer._train_step`` (collate, forward, loss,
backward, gradient norm, Adam) with the run config given (default:
``configs/multi30k.toml``, the small preset). Every operator's self time is put
in one bucket:

- ``data``: collating (padding) the step's micro-batches;
- ``output projection``: the tied pre-softmax matmul (§3.4) and its gradients
  (shapes with V columns);
- ``loss over the vocabulary``: log-softmax, label smoothing and their backward
  on (N, V) tensors;
- ``linear layers``: every other matmul (W^Q, W^K, W^V, W^O, the feed-forward
  layers);
- ``attention``: the fused scaled dot-product attention kernels (Eq. 1) and
  their backward;
- ``layer norm``, ``dropout`` (PyTorch's or :mod:`transformer.dropout`'s
  masks), ``embeddings``, ``casts`` (dtype conversions: autocast's bf16
  copies);
- ``optimizer``: gradient norm and Adam;
- ``other``: every other operator (residual adds, ReLU, masks, reshapes...);
- ``python and framework``: time in the forward, loss and backward that no
  operator accounts for;
- ``outside the labels``: the rest of the step (zero_grad, the dropout seed,
  bookkeeping).

Of ``--rounds`` rounds profiled one after the other, the fastest is kept (all
rounds' throughputs are recorded). Shares are of the wall time of the profiled
steps (the profiler adds some
overhead of its own).

    python benchmarks/profile_train_step.py --set train.precision=fp32 \
        --out results/benchmarks/cpu-profile-small-fp32.json
    python benchmarks/profile_train_step.py --set train.precision=bf16 \
        --out results/benchmarks/cpu-profile-small-bf16.json
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
    "linear layers",
    "attention",
    "output projection",
    "loss over the vocabulary",
    "layer norm",
    "dropout",
    "embeddings",
    "casts",
    "optimizer",
    "data",
    "other",
)
PHASES = ("data", "forward", "loss", "backward", "optimizer")
MATMULS = {
    "aten::mm",
    "aten::addmm",
    "aten::bmm",
    "aten::matmul",
    "aten::linear",
    "aten::_addmm_activation",
}


def bucket_of(name: str, shapes: list, phase: str, vocab: int) -> str:
    """The bucket of one operator event (see the module docstring)."""
    if phase in ("data", "optimizer"):
        return phase
    has_vocab = any(
        isinstance(s, (list, tuple)) and vocab in s for s in shapes
    )
    if "embedding" in name:
        return "embeddings"
    if name in MATMULS:
        return "output projection" if has_vocab else "linear layers"
    if (
        "scaled_dot_product" in name
        or "flash_attention" in name
        or "efficient_attention" in name
    ):
        return "attention"
    if "layer_norm" in name:
        return "layer norm"
    if "dropout" in name or "bernoulli" in name:
        return "dropout"
    if (
        name in ("aten::to", "aten::_to_copy", "aten::copy_")
        and phase != "loss"
    ):
        return "casts"
    if has_vocab or phase == "loss":
        return "loss over the vocabulary"
    return "other"


def in_bits_dropout(event) -> bool:
    """Whether ``event`` runs inside :func:`transformer.dropout.bits_dropout`
    (its forward label or its backward node): its operators (random bits, a
    comparison, masked fill, scaling) are dropout's."""
    while event is not None:
        if event.name == "bits_dropout" or "_BitsDropout" in event.name:
            return True
        event = event.cpu_parent
    return False


def phase_of(event) -> str | None:
    """The innermost trainer label (data, forward, loss, backward, optimizer)
    at or above ``event``."""
    while event is not None:
        if event.name in PHASES:
            return event.name
        event = event.cpu_parent
    return None


def profile_steps(trainer: Trainer, steps: int) -> dict:
    vocab = trainer.tokenizer.vocab_size
    with profile(
        activities=[ProfilerActivity.CPU], record_shapes=True
    ) as prof:
        started = time.perf_counter()
        tokens = 0.0
        for _ in range(steps):
            tokens += trainer._train_step()["tokens"]
        wall = time.perf_counter() - started
    # operator self time per bucket, microseconds
    ops: dict[str, float] = defaultdict(float)
    # wall time inside each trainer label, Python included
    phases: dict[str, float] = defaultdict(float)
    for event in prof.events():
        if event.name in PHASES:
            # outermost labels only (loss runs inside forward)
            if phase_of(event.cpu_parent) is None:
                phases[event.name] += event.cpu_time_total
            continue
        phase = phase_of(event)
        if phase is not None:
            bucket = (
                "dropout"
                if phase not in ("data", "optimizer")
                and in_bits_dropout(event)
                else bucket_of(
                    event.name, event.input_shapes or [], phase, vocab
                )
            )
            ops[bucket] += event.self_cpu_time_total
    buckets = {k: ops.get(k, 0.0) for k in BUCKETS}
    # Data and optimizer: the whole labelled time (mostly Python for collate);
    # the rest of the forward, loss and backward time that no operator accounts
    # for is Python and autograd bookkeeping.
    buckets["data"], buckets["optimizer"] = (
        phases.get("data", 0.0),
        phases.get("optimizer", 0.0),
    )
    in_ops = sum(v for k, v in ops.items() if k not in ("data", "optimizer"))
    buckets["python and framework"] = max(
        phases.get("forward", 0.0) + phases.get("backward", 0.0) - in_ops, 0.0
    )
    buckets["outside the labels"] = max(wall * 1e6 - sum(phases.values()), 0.0)
    total = wall * 1e6
    return {
        "steps": steps,
        "target_tokens": tokens,
        "wall_s": wall,
        "profiled_tokens_per_s": tokens / wall,
        "buckets_ms_per_step": {
            k: v / 1e3 / steps for k, v in buckets.items()
        },
        "buckets_share": {k: v / total for k, v in buckets.items()},
        # loss: inside forward
        "phases_ms_per_step": {
            k: phases.get(k, 0.0) / 1e3 / steps for k in PHASES if k != "loss"
        },
        "top_ops": [
            {
                "name": a.key,
                "self_ms_per_step": a.self_cpu_time_total / 1e3 / steps,
                "calls": a.count,
            }
            for a in sorted(
                prof.key_averages(), key=lambda a: -a.self_cpu_time_total
            )[:15]
        ],
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        default="configs/multi30k.toml",
        help="run config (default: configs/multi30k.toml)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=(
            "override a config value, e.g. --set train.precision=bf16"
            " (repeatable)"
        ),
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="untimed steps first (default: 5)",
    )
    p.add_argument(
        "--steps", type=int, default=10, help="profiled steps (default: 10)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help=(
            "profile this many rounds of --steps steps, one after the other,"
            " and keep the fastest (the machine's own noise is large next to"
            " some of the buckets; default: 3)"
        ),
    )
    p.add_argument(
        "--out",
        type=Path,
        help="also write the results, args and run info to this JSON file",
    )
    args = p.parse_args()

    overrides = [
        *args.overrides,
        "train.out_dir=''",
        "train.progress=false",
        "train.eval_every=0",
    ]
    config = RunConfig.from_toml(args.config, overrides)
    started = time.perf_counter()
    trainer = Trainer(config)
    for _ in range(args.warmup):
        trainer._train_step()
    if args.rounds < 1:
        raise SystemExit(f"error: --rounds must be >= 1, got {args.rounds}")
    rounds = [profile_steps(trainer, args.steps) for _ in range(args.rounds)]
    result = max(rounds, key=lambda r: r["profiled_tokens_per_s"])
    result["rounds_tokens_per_s"] = [
        r["profiled_tokens_per_s"] for r in rounds
    ]
    precision = config.train.precision
    print(
        f"# {args.config} {' '.join(args.overrides)}: precision={precision}"
        f" compile={config.train.compile} threads={torch.get_num_threads()}"
        f" torch={torch.__version__}"
    )
    print(
        f"{result['profiled_tokens_per_s']:,.0f} target tokens/s under the"
        f" profiler, {args.steps} steps, the fastest of {args.rounds} rounds ("
        + ", ".join(f"{t:,.0f}" for t in result["rounds_tokens_per_s"])
        + ")"
    )
    print("| bucket | ms / step | share |\n|---|---|---|")
    for k, ms in result["buckets_ms_per_step"].items():
        print(f"| {k} | {ms:.1f} | {100 * result['buckets_share'][k]:.1f}% |")
    print("top operators (self time per step):")
    for op in result["top_ops"]:
        print(
            f"  {op['self_ms_per_step']:8.1f} ms  {op['calls']:5d} calls "
            f" {op['name']}"
        )
    if args.out:
        record = {
            "benchmark": "train_step_profile",
            "args": {k: str(v) for k, v in vars(args).items()},
            "config": config.to_dict(),
            "results": result,
            "wall_s": time.perf_counter() - started,
            **run_info(torch.device("cpu"), 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
