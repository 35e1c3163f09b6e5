r"""Training throughput, CPU "MFU" and peak memory: our trainer's step vs
torch.nn.Transformer.

Every variant sees the same batches (random tokens with Multi30k-like lengths,
right padding, a token budget per batch) and does the same work per step:
embeddings x sqrt(d_model) + sinusoidal positions, the encoder-decoder, the
tied pre-softmax projection, label-smoothed cross-entropy (ε = 0.1), backward
and an Adam step. Each variant runs in its own subprocess (its peak memory is
its own); rounds alternate the variants so that drift in machine load hits all
of them, and the best round is kept.

Variants:

ours-fp32
    this package in float32, logits then the loss: the trainer before
    `fused_loss`
ours-fast
    the trainer's defaults: bf16 autocast where the device has bf16 (else
    fp32), the fused chunked projection + loss (train.fused_loss), float32
    attention on the CPU, and on a CPU the allocator setting
    (train.tune_allocator) and dropout masks drawn from random bits
    (train.dropout_masks)
torch-fp32
    torch.nn.Transformer of the same size, float32, F.cross_entropy on the
    logits
torch-bf16
    the same under bf16 autocast
torch-bf16-tuned
    the same with the CPU allocator setting the trainer uses
    (train.tune_allocator), so that the comparison can be read without it too
ours-compiled
    ours-fast under torch.compile(dynamic=True) (not in the default list: its
    compilation takes minutes on 2 cores; the warm-up steps absorb it)

Usage (the first: CPU, the `small` preset, the five default variants)::

    python benchmarks/bench_train_step.py
    python benchmarks/bench_train_step.py --preset base --device cuda \
        --variants ours-fast,torch-bf16

It also measures, in the same run, the peak of a 2048 x 2048 matmul in fp32 and
bf16 on this device, and prints each variant's achieved model FLOP/s as a
fraction of the peak of its precision (a CPU "MFU"). FLOPs per real target
token: ``transformer.flops.flops_per_target_token`` (the 6N rule plus the
attention products).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from transformer import ModelConfig, Transformer
from transformer.dropout import use_bits_masks
from transformer.embeddings import sinusoidal_table
from transformer.flops import flops_per_target_token
from transformer.train.device import (
    autocast_dtype,
    dropout_bits,
    tune_cpu_allocator,
)
from transformer.train.loss import (
    label_smoothed_cross_entropy,
    projected_label_smoothed_cross_entropy,
)
from transformer.train.runinfo import run_info

VARIANTS = (
    "ours-fp32",
    "ours-fast",
    "torch-fp32",
    "torch-bf16",
    "torch-bf16-tuned",
)
# on request: --variants ours-fast,ours-compiled
EXTRA_VARIANTS = ("ours-compiled",)

PRESETS = {
    "tiny": ModelConfig.tiny,
    "small": ModelConfig.small,
    "base": ModelConfig.base,
}


class TorchReference(nn.Module):
    """The same architecture from torch.nn building blocks (post-norm, no final
    stack norms)."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(
            c.vocab_size, c.d_model, padding_idx=c.pad_id
        )
        self.register_buffer(
            "pe", sinusoidal_table(c.max_len, c.d_model), persistent=False
        )
        self.core = nn.Transformer(
            c.d_model,
            c.n_heads,
            c.n_layers,
            c.n_layers,
            c.d_ff,
            dropout=c.dropout,
            batch_first=True,
        )
        self.core.encoder.norm = nn.Identity()
        self.core.decoder.norm = nn.Identity()
        self.scale = math.sqrt(c.d_model)
        self.pad_id = c.pad_id
        self.drop = nn.Dropout(c.dropout)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        s = self.drop(self.embed(src) * self.scale + self.pe[: src.size(1)])
        t = self.drop(self.embed(tgt) * self.scale + self.pe[: tgt.size(1)])
        causal = nn.Transformer.generate_square_subsequent_mask(
            tgt.size(1), device=tgt.device, dtype=s.dtype
        )
        pad = src == self.pad_id
        h = self.core(
            s,
            t,
            tgt_mask=causal,
            tgt_is_causal=True,
            src_key_padding_mask=pad,
            memory_key_padding_mask=pad,
        )
        return h @ self.embed.weight.t()


def make_batches(
    n: int, max_tokens: int, vocab: int, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of sentence pairs with Multi30k-like lengths (10-20 tokens),
    right-padded."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        s_len, t_len = (
            int(torch.randint(14, 21, (1,), generator=g)),
            int(torch.randint(14, 21, (1,), generator=g)),
        )
        b = max_tokens // max(s_len, t_len)
        src = torch.randint(4, vocab, (b, s_len), generator=g)
        tgt = torch.randint(4, vocab, (b, t_len + 1), generator=g)
        for row in range(b):  # ragged lengths, padded on the right
            src[
                row,
                int(torch.randint(s_len - 4, s_len + 1, (1,), generator=g)) :,
            ] = 0
            tgt[
                row,
                int(torch.randint(t_len - 4, t_len + 2, (1,), generator=g)) :,
            ] = 0
        tgt[:, 0] = 1
        out.append((src, tgt))
    return out


def variant_dtype(which: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a variant (None: float32)."""
    if which in ("ours-fast", "ours-compiled"):
        return autocast_dtype(device, "auto")
    return torch.bfloat16 if "bf16" in which else None


def run_one(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cpu" and args.which in (
        "ours-fast",
        "ours-compiled",
        "torch-bf16-tuned",
    ):
        # as the trainer does on a CPU (train.tune_allocator)
        tune_cpu_allocator()
    cfg = PRESETS[args.preset](vocab_size=args.vocab)
    ours = args.which.startswith("ours")
    model = (
        (Transformer(cfg) if ours else TorchReference(cfg)).to(device).train()
    )
    opt = torch.optim.Adam(
        model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9
    )
    if args.which in ("ours-fast", "ours-compiled"):
        # as the trainer does (train.dropout_masks = "auto")
        use_bits_masks(model, dropout_bits(device, "auto"))
    forward = (
        torch.compile(model, dynamic=True)
        if args.which == "ours-compiled"
        else model
    )
    batches = [
        (s.to(device), t.to(device))
        for s, t in make_batches(
            args.warmup + args.steps, args.tokens, args.vocab, args.seed
        )
    ]
    dtype = variant_dtype(args.which, device)
    autocast = torch.autocast(
        device.type, dtype=dtype or torch.float32, enabled=dtype is not None
    )
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    n_tokens, flops, elapsed = 0, 0.0, 0.0
    for i, (src, tgt) in enumerate(batches):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with autocast:
            if args.which in ("ours-fast", "ours-compiled"):
                hidden = forward(src, tgt[:, :-1], project=False)
                loss = projected_label_smoothed_cross_entropy(
                    hidden, model.output_weight, tgt[:, 1:], 0.1, 0
                ).loss
            else:
                logits = model(src, tgt[:, :-1])
        if args.which == "ours-fp32":
            loss = label_smoothed_cross_entropy(
                logits, tgt[:, 1:], 0.1, 0
            ).loss
        elif not ours:
            loss = F.cross_entropy(
                logits.float().flatten(0, 1),
                tgt[:, 1:].flatten(),
                ignore_index=0,
                label_smoothing=0.1,
                reduction="sum",
            )
        opt.zero_grad(set_to_none=True)
        (loss / (tgt[:, 1:] != 0).sum()).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= args.warmup:
            elapsed += time.perf_counter() - t0
            real = int((tgt[:, 1:] != 0).sum())
            n_tokens += real
            flops += (
                flops_per_target_token(cfg, src.size(1), tgt.size(1) - 1)
                * real
            )
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    )
    return {
        "which": args.which,
        "dtype": "bf16" if dtype == torch.bfloat16 else "fp32",
        "tokens_per_s": n_tokens / elapsed,
        "ms_per_step": 1e3 * elapsed / args.steps,
        "peak_mib": peak,
        "tflops": flops / elapsed / 1e12,
    }


def matmul_peak(
    device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 10
) -> float:
    """Best TFLOP/s of an n x n matmul in ``dtype`` on ``device`` (the
    denominator of the CPU "MFU")."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e12


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="small",
        help="model size (default: small)",
    )
    p.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    p.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=(
            f"comma-separated, from {', '.join(VARIANTS + EXTRA_VARIANTS)}"
            f" (default: {','.join(VARIANTS)})"
        ),
    )
    p.add_argument(
        "--vocab",
        type=int,
        default=8000,
        help="shared vocabulary size (default: 8000)",
    )
    p.add_argument(
        "--tokens",
        type=int,
        default=4096,
        help="token budget per batch, as train.max_tokens (default: 4096)",
    )
    p.add_argument(
        "--steps", type=int, default=10, help="timed steps (default: 10)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="untimed steps first (default: 3)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating rounds per variant; the best is kept",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=989.0,
        help="GPU peak bf16 dense TFLOP/s for MFU (H100 SXM: 989)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="also write the results, args and run info to this JSON file",
    )
    p.add_argument(
        "--which", choices=VARIANTS + EXTRA_VARIANTS, help=argparse.SUPPRESS
    )
    args = p.parse_args()
    if args.which:  # child process: one measurement
        print(json.dumps(run_one(args)))
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS + EXTRA_VARIANTS))
    if unknown or not variants:
        p.error(
            f"unknown variant(s) {unknown}; choose from"
            f" {', '.join(VARIANTS + EXTRA_VARIANTS)}"
        )

    device = torch.device(args.device)
    started = time.perf_counter()
    peaks = {
        "fp32": matmul_peak(device, torch.float32),
        "bf16": matmul_peak(device, torch.bfloat16),
    }
    if device.type == "cuda":
        # the datasheet's dense bf16 peak
        peaks["bf16"] = args.peak_tflops / 1.0
    results: dict[str, list[dict]] = {v: [] for v in variants}
    # alternate, so that drift in machine load hits every variant
    for _ in range(args.rounds):
        for which in variants:
            child = [
                f"--{k}={getattr(args, k)}"
                for k in (
                    "preset",
                    "device",
                    "vocab",
                    "tokens",
                    "steps",
                    "warmup",
                    "seed",
                )
            ]
            out = subprocess.run(
                [sys.executable, __file__, *child, "--which", which],
                check=True,
                capture_output=True,
                text=True,
                env=os.environ,
            )
            results[which].append(
                json.loads(out.stdout.strip().splitlines()[-1])
            )
    best = {
        k: max(v, key=lambda r: r["tokens_per_s"]) for k, v in results.items()
    }
    for r in best.values():
        r["mfu"] = r["tflops"] / peaks[r["dtype"]]
    ratios = {}
    if "ours-fast" in best and "ours-fp32" in best:
        ratios["fast_vs_fp32"] = (
            best["ours-fast"]["tokens_per_s"]
            / best["ours-fp32"]["tokens_per_s"]
        )
    # the same precision
    if "ours-fast" in best and f"torch-{best['ours-fast']['dtype']}" in best:
        ratios["fast_vs_torch"] = (
            best["ours-fast"]["tokens_per_s"]
            / best[f"torch-{best['ours-fast']['dtype']}"]["tokens_per_s"]
        )
    if (
        "ours-fast" in best
        and "torch-bf16-tuned" in best
        and best["ours-fast"]["dtype"] == "bf16"
    ):
        ratios["fast_vs_torch_same_allocator"] = (
            best["ours-fast"]["tokens_per_s"]
            / best["torch-bf16-tuned"]["tokens_per_s"]
        )
    if "ours-fp32" in best and "torch-fp32" in best:
        ratios["fp32_vs_torch_fp32"] = (
            best["ours-fp32"]["tokens_per_s"]
            / best["torch-fp32"]["tokens_per_s"]
        )

    print(
        f"# preset={args.preset} device={args.device}"
        f" tokens/batch={args.tokens} steps={args.steps} rounds={args.rounds}"
        f" torch={torch.__version__} threads={torch.get_num_threads()}"
        f" machine={platform.processor() or platform.machine()}"
    )
    print(
        f"# matmul peak 2048x2048: fp32 {peaks['fp32'] * 1e3:,.0f} GFLOP/s,"
        f" bf16 {peaks['bf16'] * 1e3:,.0f} GFLOP/s"
    )
    mem = "peak MiB (GPU)" if device.type == "cuda" else "peak RSS growth MiB"
    print(
        "| variant | precision | target tokens/s | ms/step | GFLOP/s | MFU"
        f" (of its precision's peak) | {mem} |"
    )
    print("|---|---|---|---|---|---|---|")
    for k, r in best.items():
        print(
            f"| {k} | {r['dtype']} | {r['tokens_per_s']:,.0f} |"
            f" {r['ms_per_step']:.0f} | {r['tflops'] * 1e3:,.0f} |"
            f" {100 * r['mfu']:.0f}% | {r['peak_mib']:.0f} |"
        )
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}x")
    if args.out:
        record = {
            "benchmark": "train_step",
            "args": {k: str(v) for k, v in vars(args).items()},
            "matmul_peak_tflops": peaks,
            "results": best,
            "ratios": ratios,
            "all_rounds": results,
            "wall_s": time.perf_counter() - started,
            **run_info(device, 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
