r"""Why `fast_attention` attends bf16 heads in float32 on the CPU: PyTorch's
fused kernel, three ways.

Forward + backward of ``F.scaled_dot_product_attention`` with a padding mask
(and with a causal one), at the shapes of one Multi30k training batch of the
small preset (195 sentences x 4 heads x 21 positions x d_k = 64): float32
inputs; bf16 inputs; bf16 inputs attended in float32 and cast back (what
``transformer.attention.fast_attention`` does on the CPU).

    python benchmarks/bench_attention_cpu.py \
        --out results/benchmarks/cpu-attention-sdpa.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from transformer.train.runinfo import run_info


def time_fwd_bwd(
    dtype: torch.dtype,
    upcast: bool,
    causal: bool,
    shape: tuple[int, int, int, int],
    repeats: int,
) -> float:
    b, h, t, d = shape
    q, k, v = (
        torch.randn(b, h, t, d, dtype=dtype, requires_grad=True)
        for _ in range(3)
    )
    mask = torch.ones(b, 1, 1, t, dtype=torch.bool)
    mask[:, :, :, t - 5 :] = False  # padding at the end of every row
    if causal:
        # keep every row non-empty
        mask = mask | torch.eye(t, dtype=torch.bool)
        mask = mask & torch.ones(t, t, dtype=torch.bool).tril()

    def step() -> None:
        if upcast:
            out = F.scaled_dot_product_attention(
                q.float(), k.float(), v.float(), attn_mask=mask
            ).to(dtype)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out.sum().backward()

    step()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeats):
            step()
        best = min(best, (time.perf_counter() - started) / repeats)
    return best * 1e3


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=10,
        help="calls per timing; the best of 3 timings is kept",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="also write the results, args and run info to this JSON file",
    )
    args = p.parse_args()
    started = time.perf_counter()
    shape = (195, 4, 21, 64)
    rows = []
    print(
        f"# SDPA forward + backward, shape {shape}, {torch.get_num_threads()}"
        f" threads, torch {torch.__version__}"
    )
    print(
        "| mask | float32 (ms) | bf16 (ms) | bf16 attended in float32 (ms)"
        " |\n|---|---|---|---|"
    )
    for causal in (False, True):
        times = {
            name: time_fwd_bwd(dtype, up, causal, shape, args.repeats)
            for name, dtype, up in (
                ("fp32", torch.float32, False),
                ("bf16", torch.bfloat16, False),
                ("bf16_upcast", torch.bfloat16, True),
            )
        }
        rows.append(
            {
                "mask": "causal + padding" if causal else "padding",
                **{f"{k}_ms": v for k, v in times.items()},
            }
        )
        print(
            f"| {rows[-1]['mask']} | {times['fp32']:.1f} | {times['bf16']:.1f}"
            f" | {times['bf16_upcast']:.1f} |"
        )
    if args.out:
        record = {
            "benchmark": "attention_cpu",
            "args": {k: str(v) for k, v in vars(args).items()},
            "shape": shape,
            "results": rows,
            "wall_s": time.perf_counter() - started,
            **run_info(torch.device("cpu"), 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
