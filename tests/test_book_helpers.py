"""transformer.book: the helpers every chapter imports instead of a copied
setup cell."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from transformer.attention import MultiHeadAttention
from transformer.book import (
    STYLE,
    plot_validation,
    source_of,
    use_book_style,
)
from transformer.results import RecordedRun


def test_source_of_gives_the_real_code_with_its_file_and_lines() -> None:
    code, where, first, last = source_of(MultiHeadAttention.forward)
    assert where == "transformer/attention.py"
    lines, start = inspect.getsourcelines(MultiHeadAttention.forward)
    assert (first, last) == (start, start + len(lines) - 1)
    assert code.startswith("def forward(") and "project_kv" in code


def test_use_book_style_sets_the_style_and_seeds_torch() -> None:
    use_book_style(seed=3)
    a = torch.rand(2)
    use_book_style(seed=3)
    assert torch.equal(a, torch.rand(2))
    for key, value in STYLE.items():
        assert plt.rcParams[key] == value or list(plt.rcParams[key]) == list(
            value
        )


def test_plot_validation_draws_each_runs_records_in_step_order(
    tmp_path: Path,
) -> None:
    records = [
        {"split": "val", "step": 200, "nll": 2.0, "bleu": 10.0},
        {"split": "train", "step": 100, "loss": 5.0},
        {"split": "val", "step": 100, "nll": 3.0},  # no BLEU: a gap
    ]
    run = RecordedRun("r", tmp_path, {}, metrics=records)
    fig, (ax_nll, ax_bleu) = plt.subplots(1, 2)
    plot_validation(ax_nll, {"first": run, "again": run})
    plot_validation(ax_bleu, {"first": run}, "bleu", colors={"first": "C3"})
    lines = ax_nll.get_lines()
    assert [line.get_label() for line in lines] == ["first", "again"]
    assert list(lines[0].get_xdata()) == [100, 200]
    assert list(lines[0].get_ydata()) == [3.0, 2.0]
    bleu = ax_bleu.get_lines()[0].get_ydata()
    assert math.isnan(bleu[0]) and bleu[1] == 10.0
    assert ax_bleu.get_lines()[0].get_color() == "C3"
    plt.close(fig)
