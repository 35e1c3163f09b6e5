"""transformer.heads: position statistics of attention maps and the role they
give a head."""

from __future__ import annotations

import pytest
import torch

from transformer import ModelConfig, Transformer
from transformer.heads import head_role, head_statistics, summarize_heads


def one_hot_map(t: int, shift: int) -> torch.Tensor:
    """(1, 1, t, t): every query puts all its weight on position i + shift
    (clamped)."""
    w = torch.zeros(1, 1, t, t)
    for i in range(t):
        w[0, 0, i, min(max(i + shift, 0), t - 1)] = 1.0
    return w


@pytest.mark.parametrize(
    "shift,role",
    [(0, "same token"), (-1, "previous token"), (1, "next token")],
)
def test_a_head_that_looks_at_one_position_gets_that_role(
    shift: int, role: str
) -> None:
    stats = head_statistics({"encoder": [one_hot_map(8, shift)]})[
        ("encoder", 0, 0)
    ]
    assert stats["entropy"] == pytest.approx(0.0, abs=1e-6)
    assert head_role(stats, "encoder") == role


def test_uniform_weights_are_broad_and_a_diagonal_cross_attention_is_an_alignment() -> (
    None
):
    uniform = torch.full((1, 1, 6, 6), 1 / 6)
    cross = one_hot_map(6, 0)
    stats = head_statistics({"encoder": [uniform], "decoder_cross": [cross]})
    assert stats[("encoder", 0, 0)]["entropy"] == pytest.approx(1.0)
    assert (
        head_role(stats[("encoder", 0, 0)], "encoder")
        == "broad: averages the sentence"
    )
    assert stats[("decoder_cross", 0, 0)]["alignment"] == pytest.approx(1.0)
    assert (
        head_role(stats[("decoder_cross", 0, 0)], "decoder_cross")
        == "monotone alignment"
    )


def test_causal_self_attention_entropy_is_normalised_by_the_visible_keys() -> (
    None
):
    """A decoder query at position i sees i + 1 keys: uniform over them is
    entropy 1, not log(i+1)/log(T)."""
    t = 5
    w = torch.tril(torch.ones(t, t))
    w = (w / w.sum(-1, keepdim=True))[None, None]
    stats = head_statistics({"decoder_self": [w]})[("decoder_self", 0, 0)]
    # position 0 sees one key: entropy 0
    assert stats["entropy"] == pytest.approx((0 + 4 * 1.0) / 5)


def test_summary_of_a_real_model_has_one_row_per_head_and_kind() -> None:
    model = Transformer(ModelConfig.tiny(vocab_size=30)).eval()  # N=2, h=4
    src, tgt = torch.randint(4, 30, (1, 7)), torch.randint(4, 30, (1, 5))
    with torch.no_grad():
        rows = summarize_heads(
            [head_statistics(model.attention_maps(src, tgt))] * 2
        )
    assert len(rows) == 3 * 2 * 4
    assert {(r["kind"], r["layer"], r["head"]) for r in rows} >= {
        ("decoder_cross", 2, 4),
        ("encoder", 1, 1),
    }
    assert all(0.0 <= r["entropy"] <= 1.0 + 1e-6 for r in rows)
