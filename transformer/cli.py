r"""Command line: ``python -m transformer
{train,translate,evaluate,average,export} --help``.

Examples::

    python -m transformer train configs/numbers-cpu.toml \
        --set train.max_steps=500
    torchrun --nproc_per_node=2 -m transformer train configs/numbers-cpu.toml
    python -m transformer translate --model runs/numbers-cpu \
        "forty five" "three hundred twelve"
    echo "nine hundred one" | python -m transformer translate \
        --model runs/numbers-cpu --greedy
    python -m transformer evaluate --model runs/numbers-cpu --split test
    python -m transformer evaluate --hyp hyps.txt --ref refs.txt
    python -m transformer average --run-dir runs/wmt14-base --last 5 \
        --output runs/wmt14-base/averaged
    python -m transformer export --model runs/multi30k-de-en/averaged \
        --output models/multi30k-de-en
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

FORMATTER = argparse.RawDescriptionHelpFormatter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transformer",
        description=__doc__,
        formatter_class=FORMATTER,
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
    _train_parser(commands)
    _translate_parser(commands)
    _evaluate_parser(commands)
    _average_parser(commands)
    _export_parser(commands)
    args = parser.parse_args(argv)
    from transformer.checkpoint import CheckpointError
    from transformer.data.hub import HubUnavailableError

    try:
        return args.run(args)
    except (
        CheckpointError,
        HubUnavailableError,
        ValueError,
        FileNotFoundError,
        FileExistsError,
    ) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(
            f"error: permission denied: {e.filename or e} (choose a folder you"
            " can write to)",
            file=sys.stderr,
        )
        return 2


# -- train --------------------------------------------------------------------
def _train_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "train",
        help="train a model from a TOML config",
        description=(
            "Train a Transformer as described by a TOML config (see configs/)."
            " Works unchanged under torchrun --nproc_per_node=N (distributed"
            " data parallel; only rank 0 writes). Ctrl-C saves a checkpoint"
            " and stops; --resume continues from the newest checkpoint."
        ),
    )
    p.add_argument(
        "config",
        type=Path,
        help="TOML file with [data], [model], [train] and [decode] tables",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help=(
            "override one config value, TOML syntax, repeatable: --set"
            " train.max_steps=100 --set model.d_model=128 --set data.task=copy"
        ),
    )
    p.add_argument(
        "--out-dir",
        help=(
            "where checkpoints, metrics.jsonl and run.json go (="
            " train.out_dir)"
        ),
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in the out dir",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=(
            "start over in an out dir that holds a run: deletes its"
            " checkpoints, metrics.jsonl and run.json (without --resume or"
            " --overwrite, such a folder is refused)"
        ),
    )
    p.add_argument(
        "--max-steps",
        type=int,
        help="number of optimizer steps (= train.max_steps)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar or messages (= train.progress=false)",
    )
    p.set_defaults(run=_train)


def _train(args: argparse.Namespace) -> int:
    from transformer.train.config import RunConfig
    from transformer.train.trainer import Trainer, TrainingDivergedError

    overrides = list(args.overrides)
    if args.out_dir is not None:
        overrides.append(f"train.out_dir={json.dumps(args.out_dir)}")
    if args.resume:
        overrides.append("train.resume=true")
    if args.overwrite:
        overrides.append("train.overwrite=true")
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.no_progress:
        overrides.append("train.progress=false")
    config = RunConfig.from_toml(args.config, overrides)
    start = time.perf_counter()
    trainer = Trainer(config)
    try:
        history = trainer.fit()
    except TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        trainer.close()
    if trainer.is_main:
        val = [r for r in history if r["split"] == "val"]
        print(
            f"trained {trainer.step} steps in"
            f" {time.perf_counter() - start:.1f} s"
            + (" (interrupted)" if trainer.interrupted else "")
        )
        if val:
            print(
                "validation: "
                + ", ".join(
                    f"{k}={v:.4g}"
                    for k, v in val[-1].items()
                    if isinstance(v, float)
                )
            )
        if trainer.ckpt_dir is not None:
            print(f"checkpoints: {trainer.ckpt_dir}")
    return 130 if trainer.interrupted else 0


# -- translate ----------------------------------------------------------------
def _add_decoding_options(
    p: argparse.ArgumentParser, model_required: bool = True
) -> None:
    p.add_argument(
        "--model",
        required=model_required,
        type=Path,
        help=(
            "a checkpoint directory, or a run directory (its newest checkpoint"
            " is used)"
        ),
    )
    p.add_argument(
        "--beam-size",
        type=int,
        default=None,
        help="beam size (default: the run's decode.beam_size, 4 in §6.1)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="length penalty α (default: decode.alpha, 0.6 in §6.1)",
    )
    p.add_argument(
        "--greedy",
        action="store_true",
        help="greedy decoding (same as --beam-size 1)",
    )
    p.add_argument(
        "--extra-len",
        type=int,
        default=None,
        help="maximum output length = input length + this (default 50)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="sentences decoded together (default 64)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N or mps",
    )


def _translate_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "translate",
        help="translate sentences with a trained model",
        description=(
            "Translate the sentences given as arguments, or else one sentence"
            " per line of stdin, and print one translation per line (beam"
            " search, §6.1, unless --greedy)."
        ),
    )
    p.add_argument(
        "sentences",
        nargs="*",
        help="sentences to translate (none: read stdin)",
    )
    _add_decoding_options(p)
    p.set_defaults(run=_translate)


def _load(args: argparse.Namespace):
    from transformer.checkpoint import (
        CheckpointError,
        latest_checkpoint,
        load_model,
        load_run_config,
        load_tokenizer,
        with_intact_hint,
    )
    from transformer.train.config import DecodeConfig, RunConfig
    from transformer.train.device import pick_device

    path = args.model
    if (
        not (path / "manifest.json").is_file()
        and (path / "checkpoints").is_dir()
    ):
        newest = latest_checkpoint(path / "checkpoints")
        if newest is None:
            raise FileNotFoundError(
                f"{path / 'checkpoints'} holds no complete checkpoint"
            )
        path = newest
    try:
        model = load_model(path, device=pick_device(args.device))
    except CheckpointError as e:
        raise with_intact_hint(e, path, "pass --model {intact}") from None
    tokenizer = load_tokenizer(path)
    raw = load_run_config(path)
    run = RunConfig.from_dict(raw, source=str(path)) if raw else None
    d = run.decode if run else DecodeConfig()
    beam = (
        1
        if args.greedy
        else (d.beam_size if args.beam_size is None else args.beam_size)
    )
    options = dict(
        beam_size=beam,
        alpha=d.alpha if args.alpha is None else args.alpha,
        extra_len=d.extra_len if args.extra_len is None else args.extra_len,
        batch_size=args.batch_size,
    )
    return model, tokenizer, run, options


def _translate(args: argparse.Namespace) -> int:
    from transformer.decode import translate
    from transformer.decode.translate import max_source_tokens, too_long

    sentences = args.sentences or [line.rstrip("\n") for line in sys.stdin]
    for i, sentence in enumerate(sentences, 1):
        try:
            sentence.encode("utf-8")
        except UnicodeEncodeError:
            # bytes that were not UTF-8, smuggled in as surrogates
            raise ValueError(
                f"input {i} is not UTF-8 text ({sentence!r}); convert it to"
                " UTF-8"
            ) from None
    model, tokenizer, _, options = _load(args)
    for i, sentence in enumerate(sentences, 1):
        if not sentence.strip():
            print(
                f"warning: input {i} is empty; its translation is an empty"
                " line",
                file=sys.stderr,
            )
    for i, n in too_long(model, tokenizer, sentences):
        print(
            f"warning: input {i + 1} has {n} tokens; only its first"
            f" {max_source_tokens(model)} are translated (the model's max_len"
            f" is {model.config.max_len})",
            file=sys.stderr,
        )
    for line in translate(model, tokenizer, sentences, **options):
        print(line)
    return 0


# -- evaluate -----------------------------------------------------------------
def _evaluate_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "evaluate",
        help=(
            "BLEU and chrF of a model on a split, or of hypothesis/reference"
            " files"
        ),
        description=(
            "Print corpus BLEU (SacreBLEU), chrF and lowercased BLEU with"
            " their sacrebleu signatures, and the exact-match rate. Either"
            " decode a split of the model's own dataset (--model, --split), or"
            " score existing detokenized files (--hyp, --ref; one sentence per"
            " line)."
        ),
    )
    p.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test"),
        help="dataset split to decode (default test)",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=0,
        help="score only the first N pairs of the split (0: all)",
    )
    p.add_argument(
        "--output",
        type=Path,
        help="also write the hypotheses here, one per line",
    )
    p.add_argument(
        "--hyp",
        type=Path,
        help="file of detokenized hypotheses (instead of --model)",
    )
    p.add_argument(
        "--ref", type=Path, help="file of references, aligned with --hyp"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the scores as one JSON object",
    )
    _add_decoding_options(p, model_required=False)
    p.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from transformer.evaluation import evaluate_translations, score_corpus

    if args.hyp or args.ref:
        if not (args.hyp and args.ref) or args.model:
            raise ValueError(
                "give both --hyp and --ref (and no --model), or --model alone"
            )
        from transformer.data.corpus import read_lines

        hyps, refs = read_lines(args.hyp), read_lines(args.ref)
        scores = score_corpus(hyps, refs)
    else:
        if args.model is None:
            raise ValueError("give --model (with --split), or --hyp and --ref")
        from transformer.data import load_pairs

        model, tokenizer, run, options = _load(args)
        if run is None:
            raise ValueError(
                f"{args.model} has no run_config.json, so its dataset is"
                " unknown; use --hyp/--ref"
            )
        pairs = load_pairs(run.data, args.split)
        if args.limit < 0:
            raise ValueError(
                f"--limit must be >= 0 (0: the whole split), got {args.limit}"
            )
        pairs = pairs[: args.limit] if args.limit else pairs
        scores, hyps = evaluate_translations(
            model, tokenizer, pairs, **options
        )
        if args.output:
            args.output.write_text("".join(h + "\n" for h in hyps))
    print(
        json.dumps(scores.to_dict(), indent=2)
        if args.json
        else scores.format()
    )
    return 0


# -- average ------------------------------------------------------------------
def _average_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "average",
        help="average the weights of the last N checkpoints (§6.1)",
        description=(
            "Average checkpoint weights (§6.1: the last 5 for base models, the"
            " last 20 for big ones) into a new checkpoint that translate and"
            " evaluate accept."
        ),
    )
    p.add_argument(
        "checkpoints",
        nargs="*",
        type=Path,
        help="checkpoint directories to average",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        help="take the newest --last checkpoints of this run instead",
    )
    p.add_argument(
        "--last",
        type=int,
        default=5,
        help="how many of the run's newest checkpoints (default 5)",
    )
    p.add_argument(
        "--output",
        type=Path,
        required=True,
        help="a new directory for the averaged checkpoint",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUTPUT if it holds an earlier average (nothing else)",
    )
    p.set_defaults(run=_average)


def _average(args: argparse.Namespace) -> int:
    from transformer.checkpoint import list_checkpoints
    from transformer.train.average import average_checkpoints

    paths = list(args.checkpoints)
    if args.run_dir:
        if args.last < 1:
            raise ValueError(f"--last must be at least 1, got {args.last}")
        found = list_checkpoints(args.run_dir / "checkpoints")
        if len(found) < args.last:
            raise ValueError(
                f"{args.run_dir / 'checkpoints'} holds {len(found)}"
                f" checkpoints, fewer than --last {args.last}"
            )
        paths += found[-args.last :]
    if not paths:
        raise ValueError("give checkpoint directories or --run-dir")
    out = average_checkpoints(paths, args.output, overwrite=args.overwrite)
    print(
        f"averaged {len(paths)} checkpoints"
        f" ({', '.join(p.name for p in paths)}) into {out}"
    )
    return 0


# -- export -------------------------------------------------------------------
def _export_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "export",
        help=(
            "write a checkpoint as a small model folder to ship (fp16 weights,"
            " configs, tokenizer)"
        ),
        description=(
            "Write a checkpoint's weights (default float16: half the bytes)"
            " with its model and run configs and its tokenizer into a new"
            " folder, which translate --model and"
            " transformer.pretrained.load_translator read. No optimizer or"
            " random state."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        type=Path,
        help="a checkpoint directory (e.g. an averaged one)",
    )
    p.add_argument(
        "--output",
        required=True,
        type=Path,
        help="a new folder for the exported model",
    )
    p.add_argument(
        "--dtype",
        default="fp16",
        choices=("fp16", "bf16", "fp32"),
        help="weight precision (default fp16)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUTPUT if it holds an earlier export (nothing else)",
    )
    p.set_defaults(run=_export)


def _export(args: argparse.Namespace) -> int:
    from transformer.pretrained import export_model

    out = export_model(
        args.model, args.output, dtype=args.dtype, overwrite=args.overwrite
    )
    size = sum(f.stat().st_size for f in out.iterdir())
    print(
        f"exported {args.model} ({args.dtype}) to {out}:"
        f" {size / 2**20:.1f} MiB"
    )
    return 0
