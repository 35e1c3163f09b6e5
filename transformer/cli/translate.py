"""``python -m transformer translate``, and the decoding options and model
loading it shares with ``evaluate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_decoding_options(
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


def add_parser(commands: argparse._SubParsersAction) -> None:
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
    add_decoding_options(p)
    p.set_defaults(run=_translate)


def load(args: argparse.Namespace):
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
    model, tokenizer, _, options = load(args)
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
