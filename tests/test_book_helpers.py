"""transformer.book: the helpers every chapter imports instead of a copied
setup cell."""

from __future__ import annotations

import inspect

import matplotlib.pyplot as plt
import torch

from transformer.attention import MultiHeadAttention
from transformer.book import STYLE, source_of, use_book_style


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
