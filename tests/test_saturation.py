"""Softmax saturation of trained attention (transformer/saturation.py): the
largest weight and its gradient, checked against autograd and by hand, and
measured on models whose scores differ only by a scale."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from transformer import ModelConfig, build_model
from transformer.masks import causal_mask
from transformer.saturation import (
    attention_saturation,
    largest_weight,
    largest_weight_gradient,
)

PAIRS = [([5, 6, 7, 8, 2], [1, 9, 10]), ([11, 12, 2], [1, 13, 14, 15])]


def test_the_gradient_formula_is_autograds() -> None:
    """|∂w_m/∂s| from the weights alone equals the norm autograd computes,
    on full and on causal (masked) rows."""
    torch.manual_seed(0)
    scores = 3 * torch.randn(40, 6, 6, dtype=torch.float64)
    causal = scores.masked_fill(~causal_mask(6), float("-inf"))
    for s in (scores, causal):
        s = s.clone().requires_grad_(True)
        w = s.softmax(dim=-1)
        expected = torch.stack(
            [
                torch.autograd.grad(
                    w.view(-1, 6)[r].max(), s, retain_graph=True
                )[0]
                .view(-1, 6)[r]
                .norm()
                for r in range(w.numel() // 6)
            ]
        ).view(40, 6)
        torch.testing.assert_close(
            largest_weight_gradient(w.detach()), expected
        )


def test_uniform_and_one_hot_rows_by_hand() -> None:
    t = 8
    uniform = torch.full((1, t), 1 / t)
    assert float(largest_weight(uniform)) == pytest.approx(1 / t)
    # (1/T) sqrt((1 - 1/T)^2 + (T - 1)/T^2)
    by_hand = (1 / t) * ((1 - 1 / t) ** 2 + (t - 1) / t**2) ** 0.5
    assert float(largest_weight_gradient(uniform)) == pytest.approx(by_hand)
    one_hot = torch.eye(t)[:1]
    assert float(largest_weight(one_hot)) == 1.0
    assert float(largest_weight_gradient(one_hot)) == 0.0


def test_unscaled_scores_saturate_more_than_scaled_ones() -> None:
    """The same weights with dot instead of scaled-dot scoring: every score
    is sqrt(d_k) times larger, so every row's largest weight grows (a
    softmax's largest weight rises with the scale of its scores)."""
    base = ModelConfig.tiny(40, n_heads=1, dropout=0.0)  # d_k = 64
    torch.manual_seed(0)
    scaled = build_model(base).eval()
    dot = build_model(
        dataclasses.replace(base, attention_scoring="dot")
    ).eval()
    dot.load_state_dict(scaled.state_dict())
    # larger queries and keys than at initialisation, as training makes them
    with torch.no_grad():
        for model in (scaled, dot):
            for name, p in model.named_parameters():
                if name.endswith(("w_q.weight", "w_k.weight")):
                    p.mul_(4)
    a = attention_saturation(scaled, PAIRS)
    b = attention_saturation(dot, PAIRS)
    assert list(a) == [
        "encoder self-attention",
        "decoder self-attention",
        "encoder-decoder attention",
    ]
    for kind in a:
        assert a[kind]["rows"] == b[kind]["rows"]
        assert b[kind]["largest_weight"] > a[kind]["largest_weight"]
    enc = a["encoder self-attention"]
    # N layers x h heads x (5 + 3) queries
    assert enc["rows"] == base.n_layers * base.n_heads * (5 + 3)
    assert 1 / 5 <= enc["largest_weight"] <= 1
    assert 0 <= enc["largest_weight_gradient"] < 1


@pytest.mark.parametrize(
    ("arch", "kind"),
    [
        ("decoder_only", "decoder-only self-attention"),
        ("prefix_lm", "prefix-LM self-attention"),
    ],
)
def test_one_stack_models_are_measured_as_their_kind(
    arch: str, kind: str
) -> None:
    model = build_model(
        ModelConfig.tiny(40, architecture=arch, dropout=0.0)
    ).eval()
    measured = attention_saturation(model, PAIRS[:1])
    assert list(measured) == [kind]
    assert measured[kind]["rows"] > 0


def test_bad_input_is_refused_with_the_fix() -> None:
    model = build_model(ModelConfig.tiny(40, dropout=0.0))
    with pytest.raises(ValueError, match="eval mode"):
        attention_saturation(model.train(), PAIRS)
    with pytest.raises(ValueError, match="at least one"):
        attention_saturation(model.eval(), [])
