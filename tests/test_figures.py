"""transformer.figures: the paper's figures drawn from a real model, each box
linked to its code."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from transformer import ModelConfig  # noqa: E402
from transformer.book import repository_url  # noqa: E402
from transformer.figures import (  # noqa: E402
    architecture,
    decoding_step,
    multi_head_attention,
    to_html,
)

URL = "https://example.org/repo"


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_figure_1_is_read_off_the_model() -> None:
    fig = architecture(ModelConfig.base(vocab_size=100), repo_url=URL)
    labels = texts(fig)
    assert labels.count("6×") == 2  # N = 6 from the model's stacks
    # post-norm: after each sub-layer
    assert labels.count("Add & Norm") == 2 + 3
    assert any("PositionwiseFeedForward d_ff=2048" in t for t in labels)
    assert any("tied: embedding" in t for t in labels)
    pre = texts(
        architecture(
            ModelConfig.small(
                vocab_size=100,
                norm_first=True,
                tie_output=False,
                share_embeddings=False,
                tgt_vocab_size=50,
            )
        )
    )
    assert (
        pre.count("3×") == 2
        and pre.count("Norm") == 2 + 3
        and "Add & Norm" not in pre
    )
    assert any("nn.Linear → 50" in t for t in pre)
    assert any("PositionalEncoding (sinusoidal)" in t for t in labels)
    rope = texts(
        architecture(ModelConfig.tiny(vocab_size=100, positional="rope"))
    )
    assert "+ Positional Encoding" not in rope
    assert any("RotaryEmbedding" in t for t in rope)


@pytest.mark.parametrize(
    "draw", [architecture, multi_head_attention, decoding_step]
)
def test_every_box_links_to_lines_of_the_packages_source(draw) -> None:
    svg = to_html(draw(ModelConfig.base(vocab_size=100), repo_url=URL))
    assert svg.startswith("<svg")
    links = set(re.findall(r'href="(http[^"]+)"', svg))
    assert len(links) >= 4 and all(
        re.fullmatch(rf"{URL}/blob/main/transformer/[\w/]+\.py#L\d+-L\d+", u)
        for u in links
    )


def test_the_repository_url_comes_from_the_book_config() -> None:
    assert (
        repository_url()
        == "https://github.com/transformer-book/attention-is-all-you-need"
    )
