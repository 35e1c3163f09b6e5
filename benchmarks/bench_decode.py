"""Decoding throughput (sentences/s): greedy and beam search, batched vs one
sentence at a time, cached (keys and values reused, ``model.new_cache()``) vs
uncached (the whole prefix re-decoded at every step), all on the same sources
in the same run.

    python benchmarks/bench_decode.py  # CPU, `small` preset, 32 sentences
    python benchmarks/bench_decode.py --device cuda --sentences 256

The model has random weights (seeded): its outputs are not translations, but
every variant produces exactly the same tokens (the tests prove batched = one
at a time and cached = uncached), so the work compared is identical. Untrained
models rarely emit EOS early, so most outputs run to the paper's maximum length
(input length + 50, §6.1), a heavier load than real translation.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from transformer import ModelConfig, Transformer
from transformer.decode import beam_search, greedy_search, max_output_lengths
from transformer.decode.stepper import ModelStepDecoder
from transformer.train.runinfo import run_info

PRESETS = {
    "tiny": ModelConfig.tiny,
    "small": ModelConfig.small,
    "base": ModelConfig.base,
}


class UncachedStepDecoder:
    """The reference without a cache: every step decodes the whole prefix again
    (O(T^2) work)."""

    def __init__(
        self, model: Transformer, src: Tensor, repeat: int = 1
    ) -> None:
        self.model = model
        self.memory = model.encode(src).repeat_interleave(repeat, dim=0)
        self.src_mask = model.src_mask(src).repeat_interleave(repeat, dim=0)
        self.prefix: Tensor | None = None

    def step(self, tokens: Tensor) -> Tensor:
        tokens = tokens.to(self.memory.device)[:, None]
        self.prefix = (
            tokens
            if self.prefix is None
            else torch.cat([self.prefix, tokens], dim=1)
        )
        logits = self.model.decode(self.prefix, self.memory, self.src_mask)
        return torch.log_softmax(logits[:, -1].float(), dim=-1)

    def reorder(self, index: Tensor) -> None:
        index = index.to(self.memory.device)
        self.memory = self.memory.index_select(0, index)
        self.src_mask = self.src_mask.index_select(0, index)
        assert self.prefix is not None
        self.prefix = self.prefix.index_select(0, index)


def make_sources(n: int, vocab: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    # Multi30k-like source lengths
    lengths = torch.randint(8, 21, (n,), generator=g)
    src = torch.zeros(n, int(lengths.max()), dtype=torch.long)
    for i, n_tok in enumerate(lengths.tolist()):
        src[i, :n_tok] = torch.randint(4, vocab, (n_tok,), generator=g)
        src[i, n_tok - 1] = 2  # EOS
    return src


@torch.no_grad()
def run(
    model: Transformer,
    src: Tensor,
    search: str,
    cached: bool,
    batch: int,
    beam: int,
) -> tuple[float, list]:
    step_cls: Callable = ModelStepDecoder if cached else UncachedStepDecoder
    outputs: list = []
    t0 = time.perf_counter()
    for start in range(0, src.size(0), batch):
        chunk = src[start : start + batch]
        # trim padding columns, as a real loader would
        chunk = chunk[:, : int((chunk != 0).sum(1).max())]
        lengths = max_output_lengths(model, chunk)
        if search == "greedy":
            hyps = greedy_search(
                step_cls(model, chunk), lengths, bos_id=1, eos_id=2
            )
            outputs += [h.tokens for h in hyps]
        else:
            hyps = beam_search(
                step_cls(model, chunk, repeat=beam),
                lengths,
                beam_size=beam,
                alpha=0.6,
            )
            outputs += [h[0].tokens for h in hyps]
    if src.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, outputs


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
        "--vocab",
        type=int,
        default=8000,
        help="vocabulary size (default: 8000)",
    )
    p.add_argument(
        "--sentences",
        type=int,
        default=32,
        help="sentences to decode (default: 32)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=32,
        help="sentences per batch when batched (default: 32)",
    )
    p.add_argument(
        "--beam", type=int, default=4, help="beam size (default: 4, §6.1)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        type=Path,
        help="also write the results, args and run info to this JSON file",
    )
    p.add_argument(
        "--skip-uncached-single",
        action="store_true",
        help="skip the slowest variant",
    )
    args = p.parse_args()

    started = time.perf_counter()
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = (
        Transformer(PRESETS[args.preset](vocab_size=args.vocab))
        .to(device)
        .eval()
    )
    src = make_sources(args.sentences, args.vocab, args.seed).to(device)
    print(
        f"# preset={args.preset} device={device} sentences={args.sentences}"
        f" batch={args.batch} beam={args.beam} torch={torch.__version__}"
        f" threads={torch.get_num_threads()} machine={platform.machine()}"
    )
    print(
        "| search | batching | cache | sentences/s | seconds | speed-up vs"
        " one-at-a-time cached |"
    )
    print("|---|---|---|---|---|---|")
    table = []
    for search in ("greedy", "beam"):
        reference = None
        rows = []
        for batched in (False, True):
            for cached in (True, False):
                if (
                    cached is False
                    and batched is False
                    and args.skip_uncached_single
                ):
                    continue
                seconds, outputs = run(
                    model,
                    src,
                    search,
                    cached,
                    args.batch if batched else 1,
                    args.beam,
                )
                if reference is None:
                    reference = (seconds, outputs)
                elif outputs != reference[1]:
                    raise SystemExit(
                        f"{search}: outputs differ between variants"
                        f" (batched={batched}, cached={cached})"
                    )
                rows.append((batched, cached, seconds))
        for batched, cached, seconds in rows:
            table.append(
                {
                    "search": search,
                    "batched": batched,
                    "cached": cached,
                    "seconds": seconds,
                    "sentences_per_s": args.sentences / seconds,
                    "speedup": reference[0] / seconds,
                }
            )
            print(
                f"| {search} | {'batched' if batched else 'one at a time'} |"
                f" {'cached' if cached else 'uncached'} |"
                f" {args.sentences / seconds:.1f} | {seconds:.2f} |"
                f" {reference[0] / seconds:.2f}x |"
            )
    if args.out:
        record = {
            "benchmark": "decode",
            "args": {k: str(v) for k, v in vars(args).items()},
            "results": table,
            "wall_s": time.perf_counter() - started,
            **run_info(device, 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
