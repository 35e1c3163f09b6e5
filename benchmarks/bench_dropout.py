r"""Why dropout draws its masks from random bits on the CPU
(``train.dropout_masks``): PyTorch's Bernoulli masks against
:func:`transformer.dropout.bits_dropout`, in one run.

Forward + backward of dropout (P_drop = 0.1) on a tensor of the shape one
sub-layer output of the small preset has in a Multi30k training batch (4,096
tokens x d_model = 256), in float32 and in bf16 (the dtype of activations under
autocast). Also prints how often the bits mask drops an element, against P_drop
rounded to 2^-16.

    python benchmarks/bench_dropout.py \
        --out results/benchmarks/cpu-dropout.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from transformer.dropout import bits_dropout, drop_mask
from transformer.train.runinfo import run_info


def time_fwd_bwd(
    dropout: Callable[[torch.Tensor], torch.Tensor],
    dtype: torch.dtype,
    shape: tuple[int, int],
    repeats: int,
) -> float:
    """Best of 3 timings of ``repeats`` forward + backward calls, in ms."""
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    grad = torch.ones_like(x)

    def step() -> None:
        dropout(x).backward(grad)

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
    p.add_argument("--p", type=float, default=0.1, help="P_drop")
    p.add_argument(
        "--repeats",
        type=int,
        default=20,
        help="calls per timing; the best of 3 timings is kept",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="also write the results, args and run info to this JSON file",
    )
    args = p.parse_args()
    started = time.perf_counter()
    shape = (4096, 256)
    torch.manual_seed(0)
    dropped = drop_mask(shape, args.p, torch.device("cpu")).float().mean()
    print(
        f"# dropout forward + backward, shape {shape}, p = {args.p},"
        f" {torch.get_num_threads()} threads, torch {torch.__version__}\n"
        f"# bits mask: dropped {float(dropped):.5f} of the elements"
        f" (p rounded to 2^-16: {round(args.p * 2**16) / 2**16:.6f})"
    )
    print("| dtype | PyTorch (ms) | bits (ms) | ratio |\n|---|---|---|---|")
    rows = []
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        ms_torch = time_fwd_bwd(
            lambda x: F.dropout(x, args.p), dtype, shape, args.repeats
        )
        ms_bits = time_fwd_bwd(
            lambda x: bits_dropout(x, args.p), dtype, shape, args.repeats
        )
        rows.append(
            {
                "dtype": name,
                "torch_ms": ms_torch,
                "bits_ms": ms_bits,
                "torch_over_bits": ms_torch / ms_bits,
            }
        )
        print(
            f"| {name} | {ms_torch:.2f} | {ms_bits:.2f} |"
            f" {ms_torch / ms_bits:.2f}x |"
        )
    if args.out:
        record = {
            "benchmark": "dropout",
            "args": {k: str(v) for k, v in vars(args).items()},
            "shape": shape,
            "dropped_fraction": float(dropped),
            "results": rows,
            "wall_s": time.perf_counter() - started,
            **run_info(torch.device("cpu"), 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
