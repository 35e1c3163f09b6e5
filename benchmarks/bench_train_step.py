"""Training throughput and peak memory: our model vs torch.nn.Transformer of the same size.

Both models see the same batches (random tokens, a token budget per batch, right padding) and do the
same work per step: embeddings x sqrt(d_model) + sinusoidal positions, the encoder-decoder, the tied
pre-softmax projection, cross-entropy, backward and an Adam step. Each variant runs in its own
subprocess so that its peak memory is its own.

    python benchmarks/bench_train_step.py                      # CPU, the `small` preset
    python benchmarks/bench_train_step.py --preset base --device cuda --dtype bf16

On CUDA it also prints model FLOPs utilisation (MFU) against --peak-tflops. FLOPs per target token
for a training step are counted as 6 x (parameters touched per token, embeddings excluded but the
output projection included) + 6 x 2 x n_layers x d_model x (self + cross attention key length), the
usual 6N approximation plus the attention score and value products (forward 2, backward 4).
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
from transformer.embeddings import sinusoidal_table
from transformer.train.runinfo import run_info

PRESETS = {"tiny": ModelConfig.tiny, "small": ModelConfig.small, "base": ModelConfig.base}


class TorchReference(nn.Module):
    """The same architecture from torch.nn building blocks (post-norm, no final stack norms)."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(c.vocab_size, c.d_model, padding_idx=c.pad_id)
        self.register_buffer("pe", sinusoidal_table(c.max_len, c.d_model), persistent=False)
        self.core = nn.Transformer(
            c.d_model, c.n_heads, c.n_layers, c.n_layers, c.d_ff, dropout=c.dropout, batch_first=True
        )
        self.core.encoder.norm = nn.Identity()
        self.core.decoder.norm = nn.Identity()
        self.scale = math.sqrt(c.d_model)
        self.pad_id = c.pad_id
        self.drop = nn.Dropout(c.dropout)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        s = self.drop(self.embed(src) * self.scale + self.pe[: src.size(1)])
        t = self.drop(self.embed(tgt) * self.scale + self.pe[: tgt.size(1)])
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.size(1), device=tgt.device, dtype=s.dtype)
        pad = src == self.pad_id
        h = self.core(s, t, tgt_mask=causal, tgt_is_causal=True, src_key_padding_mask=pad, memory_key_padding_mask=pad)
        return h @ self.embed.weight.t()


def make_batches(n: int, max_tokens: int, vocab: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of sentence pairs with Multi30k-like lengths (10-20 tokens), right-padded."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        s_len, t_len = int(torch.randint(14, 21, (1,), generator=g)), int(torch.randint(14, 21, (1,), generator=g))
        b = max_tokens // max(s_len, t_len)
        src = torch.randint(4, vocab, (b, s_len), generator=g)
        tgt = torch.randint(4, vocab, (b, t_len + 1), generator=g)
        for row in range(b):  # ragged lengths, padded on the right
            src[row, int(torch.randint(s_len - 4, s_len + 1, (1,), generator=g)) :] = 0
            tgt[row, int(torch.randint(t_len - 4, t_len + 2, (1,), generator=g)) :] = 0
        tgt[:, 0] = 1
        out.append((src, tgt))
    return out


def flops_per_token(c: ModelConfig, src_len: int, tgt_len: int) -> float:
    d, f, n = c.d_model, c.d_ff, c.n_layers
    enc = 4 * d * d + 2 * d * f
    dec = 8 * d * d + 2 * d * f
    params = n * (enc * src_len / tgt_len + dec) + d * c.vocab_size  # per target token
    attention = 2 * n * d * (src_len * src_len / tgt_len + tgt_len / 2 + src_len)
    return 6 * params + 6 * attention


def run_one(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    cfg = PRESETS[args.preset](vocab_size=args.vocab)
    model = (Transformer(cfg) if args.which == "ours" else TorchReference(cfg)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    batches = [(s.to(device), t.to(device)) for s, t in make_batches(args.warmup + args.steps, args.tokens, args.vocab, args.seed)]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    n_tokens, flops, elapsed = 0, 0.0, 0.0
    for i, (src, tgt) in enumerate(batches):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with autocast:
            logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= args.warmup:
            elapsed += time.perf_counter() - t0
            n_tokens += int((tgt[:, 1:] != 0).sum())
            flops += flops_per_token(cfg, src.size(1), tgt.size(1) - 1) * tgt[:, 1:].numel()
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    )
    return {"which": args.which, "tokens_per_s": n_tokens / elapsed, "ms_per_step": 1e3 * elapsed / args.steps,
            "peak_mib": peak, "tflops": flops / elapsed / 1e12}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="small", help="model size (default: small)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default=None, help="default: bf16 on CUDA, else fp32")
    p.add_argument("--vocab", type=int, default=8000, help="shared vocabulary size (default: 8000)")
    p.add_argument("--tokens", type=int, default=2048, help="token budget per batch (default: 2048)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default: 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per model; the best is kept")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--peak-tflops", type=float, default=989.0, help="GPU peak bf16 dense TFLOP/s for MFU (H100 SXM: 989)")
    p.add_argument("--out", type=Path, help="also write the results, args and run info to this JSON file")
    p.add_argument("--which", choices=["ours", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args()
    args.dtype = args.dtype or ("bf16" if args.device.startswith("cuda") else "fp32")
    if args.which:  # child process: one measurement
        print(json.dumps(run_one(args)))
        return

    results: dict[str, list[dict]] = {"ours": [], "torch": []}
    started = time.perf_counter()
    for _ in range(args.rounds):  # alternate, so that drift in machine load hits both
        for which in ("ours", "torch"):
            child = [f"--{k}={getattr(args, k)}" for k in ("preset", "device", "dtype", "vocab", "tokens", "steps", "warmup", "seed")]
            out = subprocess.run([sys.executable, __file__, *child, "--which", which],
                                 check=True, capture_output=True, text=True, env=os.environ)
            results[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {k: max(v, key=lambda r: r["tokens_per_s"]) for k, v in results.items()}
    print(f"# preset={args.preset} device={args.device} dtype={args.dtype} tokens/batch={args.tokens} "
          f"steps={args.steps} rounds={args.rounds} torch={torch.__version__} "
          f"cpu_threads={torch.get_num_threads()} machine={platform.processor() or platform.machine()}")
    if torch.cuda.is_available() and args.device.startswith("cuda"):
        print(f"# gpu={torch.cuda.get_device_name()}")
    mem = "peak MiB (GPU)" if args.device.startswith("cuda") else "peak RSS growth MiB"
    print(f"| model | target tokens/s | ms/step | {mem} | ratio tokens/s (ours/torch) |")
    print("|---|---|---|---|---|")
    for k in ("ours", "torch"):
        r = best[k]
        ratio = r["tokens_per_s"] / best["torch"]["tokens_per_s"]
        print(f"| {k} | {r['tokens_per_s']:,.0f} | {r['ms_per_step']:.1f} | {r['peak_mib']:.0f} | {ratio:.2f} |")
    if args.device.startswith("cuda"):
        for k in ("ours", "torch"):
            print(f"MFU {k}: {100 * best[k]['tflops'] / args.peak_tflops:.1f}% of {args.peak_tflops} TFLOP/s")
    else:
        print("MFU: not measured (no GPU in this run)")
    if args.out:
        record = {"benchmark": "train_step", "args": {k: str(v) for k, v in vars(args).items()},
                  "results": best, "all_rounds": results, "wall_s": time.perf_counter() - started,
                  **run_info(torch.device(args.device), 1)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
