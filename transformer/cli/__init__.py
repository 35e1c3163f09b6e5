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
import sys

from transformer.cli import checkpoints, evaluate, train, translate

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
    train.add_parser(commands)
    translate.add_parser(commands)
    evaluate.add_parser(commands)
    checkpoints.add_average_parser(commands)
    checkpoints.add_export_parser(commands)
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
