"""``python -m transformer evaluate``: BLEU and chrF of a model on a split, or
of hypothesis and reference files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transformer.cli.translate import add_decoding_options, load


def add_parser(commands: argparse._SubParsersAction) -> None:
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
    add_decoding_options(p, model_required=False)
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

        model, tokenizer, run, options = load(args)
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
