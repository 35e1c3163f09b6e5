r"""Record a finished Multi30k run under results/runs/<name>/ (and ship its
model), as the Results chapter reads it.

    python -m transformer train configs/multi30k-de-en.toml
    python scripts/record_run.py runs/multi30k-de-en \
        --export models/multi30k-de-en

What it does, in order (all decoding is beam search, beam 4, α = 0.6 unless
said otherwise, §6.1):

1. averages the newest 1, 3, 5 and 10 checkpoints (§6.1 averages the last 5 for
   base models);
2. on the **validation** split only: scores each average, greedy decoding of
   the newest checkpoint and of the chosen average, an α sweep of the chosen
   average, and its beam search under bf16 autocast against float32 (speed,
   BLEU, identical outputs) — the inference ablation; the average with the best
   validation BLEU is chosen (ties: the fewer checkpoints);
3. decodes the **test** split once, with the chosen model;
4. writes ``eval-val.json``, ``eval-test.json`` (sacreBLEU with signatures, as
   ``evaluate --json`` prints them, plus what was decoded and how long it
   took), ``hyps-val.txt``, ``hyps-test.txt``, ``bleu-conventions-test.json``
   (the test output under every common BLEU convention),
   ``inference-ablation.json`` and ``record.json``, and copies the trainer's
   ``run.json`` and ``metrics.jsonl``;
5. with ``--export``, writes the chosen model as fp16 weights + configs +
   tokenizer (``transformer export``).

Decoding speeds are measured here, so run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from transformer.checkpoint import (
    list_checkpoints,
    load_model,
    load_model_config,
    load_run_config,
    load_tokenizer,
)
from transformer.data import TokenBatchSampler, encode_pairs, load_pairs
from transformer.evaluation import bleu_conventions, evaluate_translations
from transformer.flops import flops_per_target_token
from transformer.pretrained import export_model
from transformer.train.average import average_checkpoints
from transformer.train.config import RunConfig
from transformer.train.runinfo import run_info

ROOT = Path(__file__).resolve().parents[1]


def steps_of(checkpoints: list[Path]) -> list[int]:
    return [int(c.name.split("_")[1]) for c in checkpoints]


def decode(
    model, tokenizer, pairs, beam: int, alpha: float, bf16: bool = False
) -> tuple[dict, list[str]]:
    started = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        scores, hyps = evaluate_translations(
            model, tokenizer, pairs, beam_size=beam, alpha=alpha
        )
    seconds = time.perf_counter() - started
    record = {
        **scores.to_dict(),
        "beam_size": beam,
        "alpha": alpha,
        "precision": "bf16" if bf16 else "fp32",
        "decode_s": seconds,
        "sentences_per_s": len(pairs) / seconds,
    }
    return record, hyps


def training_work(
    run: RunConfig, tokenizer, model_config, steps: int, grad_accum: int
) -> dict:
    """Replay the run's batches (same seed, same sampler) to count what it
    trained on, and its FLOPs."""
    examples, _ = encode_pairs(
        load_pairs(run.data, "train"),
        tokenizer,
        max_len=run.data.max_len or model_config.max_len,
    )
    sampler = TokenBatchSampler(
        examples, run.train.max_tokens, shuffle=True, seed=run.train.seed
    )
    tokens = flops = 0.0
    batches, epoch = steps * grad_accum, 0
    while batches > 0:
        sampler.set_epoch(epoch)
        for indices in sampler:
            if batches == 0:
                break
            src = max(len(examples[i][0]) for i in indices)
            tgt = max(len(examples[i][1]) for i in indices) - 1
            real = sum(len(examples[i][1]) - 1 for i in indices)
            tokens += real
            flops += flops_per_target_token(model_config, src, tgt) * real
            batches -= 1
        epoch += 1
    return {
        "target_tokens": tokens,
        "training_flops": flops,
        "epochs": steps * grad_accum / len(sampler),
        "flops_formula": (
            "transformer.flops.flops_per_target_token x real target tokens,"
            " per batch"
        ),
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run_dir",
        type=Path,
        help="the trainer's out_dir (checkpoints/, run.json, metrics.jsonl)",
    )
    p.add_argument(
        "--name", help="recorded name (default: the run folder's name)"
    )
    p.add_argument(
        "--results",
        type=Path,
        default=ROOT / "results" / "runs",
        help="default: results/runs",
    )
    p.add_argument(
        "--export",
        type=Path,
        help=(
            "also ship the chosen model here (fp16), e.g."
            " models/multi30k-de-en"
        ),
    )
    p.add_argument(
        "--averages",
        default="1,3,5,10",
        help="numbers of newest checkpoints to average (default 1,3,5,10)",
    )
    p.add_argument(
        "--alphas",
        default="0,0.3,0.6,1.0,1.5",
        help="length penalties of the α sweep (validation)",
    )
    p.add_argument(
        "--note",
        default="",
        help=(
            "what a reader should know about the run (shown beside its"
            " numbers)"
        ),
    )
    args = p.parse_args()

    started = time.perf_counter()
    name = args.name or args.run_dir.name
    found = list_checkpoints(args.run_dir / "checkpoints")
    if not found or not (args.run_dir / "run.json").is_file():
        sys.exit(
            f"error: {args.run_dir} holds no finished run (checkpoints/ and"
            " run.json)"
        )
    counts = sorted(
        {
            n
            for n in (int(x) for x in args.averages.split(","))
            if 1 <= n <= len(found)
        }
    )
    run = RunConfig.from_dict(
        load_run_config(found[-1]), source=str(found[-1])
    )
    tokenizer = load_tokenizer(found[-1])
    val, test = load_pairs(run.data, "val"), load_pairs(run.data, "test")
    beam, alpha = run.decode.beam_size, run.decode.alpha
    out = args.results / name
    out.mkdir(parents=True, exist_ok=True)

    models, ablation = {}, []
    for n in counts:
        path = (
            found[-1]
            if n == 1
            else average_checkpoints(
                found[-n:], args.run_dir / f"averaged-{n}", overwrite=True
            )
        )
        models[n] = (path, load_model(path))
        record, _ = decode(models[n][1], tokenizer, val, beam, alpha)
        ablation.append(
            {"checkpoints": n, "steps": steps_of(found[-n:]), **record}
        )
        print(
            f"val, average of {n}: BLEU {record['bleu']:.2f}"
            f" ({record['decode_s']:.1f} s)",
            flush=True,
        )
    best = max(
        ablation, key=lambda r: (round(r["bleu"], 2), -r["checkpoints"])
    )["checkpoints"]
    path, model = models[best]
    for n in sorted({1, best}):
        record, _ = decode(models[n][1], tokenizer, val, 1, alpha)
        ablation.append(
            {"checkpoints": n, "steps": steps_of(found[-n:]), **record}
        )
        print(
            f"val, average of {n}, greedy: BLEU {record['bleu']:.2f}",
            flush=True,
        )
    for a in (float(x) for x in args.alphas.split(",")):
        if a != alpha:
            record, _ = decode(model, tokenizer, val, beam, a)
            ablation.append(
                {
                    "checkpoints": best,
                    "steps": steps_of(found[-best:]),
                    **record,
                }
            )
            print(
                f"val, average of {best}, alpha {a}: BLEU"
                f" {record['bleu']:.2f}",
                flush=True,
            )

    # Beam search under bf16 autocast: faster or not, and does it change the
    # output?
    fp32_record, fp32_hyps = decode(model, tokenizer, val, beam, alpha)
    bf16_record, bf16_hyps = decode(
        model, tokenizer, val, beam, alpha, bf16=True
    )
    same = sum(a == b for a, b in zip(fp32_hyps, bf16_hyps)) / len(val)
    steps = steps_of(found[-best:])
    for record in (fp32_record, bf16_record):
        ablation.append(
            {
                "checkpoints": best,
                "steps": steps,
                "same_as_fp32": same if record is bf16_record else 1.0,
                "precision_pair": True,
                **record,
            }
        )
    print(
        f"val, bf16 beam: BLEU {bf16_record['bleu']:.2f} vs fp32"
        f" {fp32_record['bleu']:.2f}, {bf16_record['sentences_per_s']:.1f} vs"
        f" {fp32_record['sentences_per_s']:.1f} sentences/s, {100 * same:.1f}%"
        " identical",
        flush=True,
    )

    chosen = {
        "checkpoints": best,
        "path": str(path),
        "steps": steps_of(found[-best:]),
    }
    # the test split: once, with the chosen model
    for split, pairs in (("val", val), ("test", test)):
        record, hyps = decode(model, tokenizer, pairs, beam, alpha)
        (out / f"eval-{split}.json").write_text(
            json.dumps({**record, "model": chosen}, indent=2) + "\n"
        )
        (out / f"hyps-{split}.txt").write_text("".join(h + "\n" for h in hyps))
        print(
            f"{split}: BLEU {record['bleu']:.2f} ({record['bleu_signature']})",
            flush=True,
        )
        # the same output under every common BLEU convention
        if split == "test":
            rows = bleu_conventions(
                hyps, [t for _, t in pairs], lang=run.data.tgt_lang
            )
            (out / "bleu-conventions-test.json").write_text(
                json.dumps(
                    {
                        "split": "test",
                        "n_sentences": len(pairs),
                        "lang": run.data.tgt_lang,
                        "rows": rows,
                    },
                    indent=2,
                )
                + "\n"
            )
    (out / "inference-ablation.json").write_text(
        json.dumps(
            {"split": "val", "chosen": chosen, "rows": ablation}, indent=2
        )
        + "\n"
    )
    for file in ("run.json", "metrics.jsonl"):
        shutil.copyfile(args.run_dir / file, out / file)
    if args.export:
        export_model(path, args.export, dtype="fp16", overwrite=True)
        print(f"shipped {path} as {args.export}")
    trained = json.loads((args.run_dir / "run.json").read_text())
    if "final_step" not in trained:
        sys.exit(
            f"error: {args.run_dir}/run.json is not a finished run (status"
            f" {trained.get('status')!r})"
        )
    if trained.get("hardware", {}).get("world_size", 1) != 1 or trained.get(
        "earlier_segments"
    ):
        sys.exit(
            "error: the token replay covers one-process, one-segment runs;"
            " record this one by hand"
        )
    work = training_work(
        run,
        tokenizer,
        load_model_config(found[-1]),
        trained["final_step"],
        trained.get("grad_accum", 1),
    )
    if (
        "target_tokens" in trained
        and trained["target_tokens"] != work["target_tokens"]
    ):
        sys.exit(
            f"error: the replay counts {work['target_tokens']:,.0f} target"
            f" tokens, the trainer {trained['target_tokens']:,.0f}"
        )
    print(
        f"trained on {work['target_tokens']:,.0f} target tokens"
        f" ({work['epochs']:.1f} epochs), {work['training_flops']:.2e} FLOPs",
        flush=True,
    )
    info = run_info(torch.device("cpu"), 1)
    (out / "record.json").write_text(
        json.dumps(
            {
                **info,
                "chosen": chosen,
                "training": work,
                "note": args.note,
                "export": str(args.export) if args.export else None,
                "record_wall_s": time.perf_counter() - started,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"recorded {out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
