"""What came after the paper, as switches of the same model: RMSNorm, the GELU
/ gated feed-forward layers (GLU, GEGLU, SwiGLU) and rotary positions (RoPE),
each against its formula, its defining property or PyTorch's own module."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from transformer import ModelConfig, Transformer
from transformer.feed_forward import PositionwiseFeedForward, matched_d_ff
from transformer.norms import RMSNorm
from transformer.rope import RotaryEmbedding


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_matches_torch_rmsnorm(dtype: torch.dtype) -> None:
    ours, theirs = RMSNorm(16, eps=1e-5), nn.RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(16))
        theirs.weight.copy_(ours.weight)
    x = (torch.randn(3, 5, 16) * 4 + 1).to(dtype)
    expected = theirs(x.float()).to(dtype)
    torch.testing.assert_close(ours(x), expected)
    assert ours(x).dtype == dtype


@pytest.mark.parametrize(
    "activation,formula",
    [
        ("relu", lambda f, x: f.w_2(F.relu(f.w_1(x)))),
        ("gelu", lambda f, x: f.w_2(F.gelu(f.w_1(x)))),
        ("glu", lambda f, x: f.w_2(torch.sigmoid(f.w_1(x)) * f.w_3(x))),
        ("geglu", lambda f, x: f.w_2(F.gelu(f.w_1(x)) * f.w_3(x))),
        ("swiglu", lambda f, x: f.w_2(x_silu(f.w_1(x)) * f.w_3(x))),
    ],
)
def test_feed_forward_variants_compute_their_formula(
    activation: str, formula
) -> None:
    ffn = PositionwiseFeedForward(8, 12, activation=activation)
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(ffn(x), formula(ffn, x))
    assert (ffn.w_3 is not None) == (activation in ("glu", "geglu", "swiglu"))


def x_silu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)  # Swish with β = 1, written out


@pytest.mark.parametrize("activation", ["glu", "geglu", "swiglu"])
def test_the_two_thirds_rule_keeps_the_feed_forward_parameter_count(
    activation: str,
) -> None:
    d, f = 512, 2048
    plain = sum(p.numel() for p in PositionwiseFeedForward(d, f).parameters())
    gated = sum(
        p.numel()
        for p in PositionwiseFeedForward(
            d, matched_d_ff(f, activation), activation=activation
        ).parameters()
    )
    assert matched_d_ff(f, activation) == 1365
    assert abs(gated / plain - 1) < 0.001
    base = Transformer(ModelConfig.small(vocab_size=100)).num_parameters()
    matched = Transformer(
        ModelConfig.small(
            vocab_size=100, activation=activation, match_ffn_params=True
        )
    ).num_parameters()
    assert abs(matched / base - 1) < 0.001


@pytest.mark.parametrize(
    "overrides",
    [
        {"norm": "rms"},
        {"activation": "swiglu"},
        {"norm": "rms", "activation": "swiglu", "norm_first": True},
        {"activation": "geglu", "match_ffn_params": True},
        {"positional": "rope"},
        # the modern block: pre-norm + RMSNorm + SwiGLU + RoPE
        {
            "norm": "rms",
            "activation": "swiglu",
            "norm_first": True,
            "positional": "rope",
        },
    ],
)
def test_every_variant_decodes_with_the_cache_as_in_one_pass_and_stays_causal(
    overrides: dict,
) -> None:
    model = Transformer(ModelConfig.tiny(vocab_size=40, **overrides)).eval()
    src, tgt = torch.randint(4, 40, (2, 7)), torch.randint(4, 40, (2, 6))
    with torch.no_grad():
        full = model(src, tgt)
        memory, mask = model.encode(src), model.src_mask(src)
        cache = model.new_cache()
        steps = torch.cat(
            [
                model.decode(tgt[:, t : t + 1], memory, mask, cache=cache)
                for t in range(6)
            ],
            dim=1,
        )
        torch.testing.assert_close(steps, full, rtol=1e-5, atol=1e-5)
        changed = tgt.clone()
        changed[:, 4:] = 5
        # later tokens change nothing before
        torch.testing.assert_close(model(src, changed)[:, :4], full[:, :4])


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("norm", "batch", "norm must be 'layer' or 'rms'"),
        ("activation", "tanh", "activation must be one of"),
        ("positional", "alibi", "must be 'sinusoidal', 'learned' or 'rope'"),
    ],
)
def test_unknown_variants_are_named(
    field: str, value: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        ModelConfig.tiny(vocab_size=40, **{field: value})


def test_rope_scores_depend_only_on_the_offset_between_positions() -> None:
    rope = RotaryEmbedding(16, max_len=64).double()
    q, k = torch.randn(1, 1, 1, 16).double(), torch.randn(1, 1, 1, 16).double()

    def score(m: int, n: int) -> float:
        return float((rope(q, offset=m) * rope(k, offset=n)).sum())

    for offset in (-5, 0, 3, 17):
        scores = [score(m, m + offset) for m in range(6, 40, 7)]
        # equal up to the float32 rounding of the rotation table
        assert max(scores) - min(scores) < 1e-5, (offset, scores)
    assert abs(score(10, 13) - score(10, 14)) > 1e-2  # but it does see it


def test_rope_is_a_rotation_by_the_papers_frequencies() -> None:
    d, pos = 8, 5
    rope = RotaryEmbedding(d, max_len=16)
    x = torch.randn(2, 3, 1, d)
    out = rope(x, offset=pos)
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1))
    for i in range(d // 2):
        angle = pos * 10000 ** (-2 * i / d)
        c, s = torch.tensor(angle).cos(), torch.tensor(angle).sin()
        a, b = x[..., 2 * i], x[..., 2 * i + 1]
        torch.testing.assert_close(out[..., 2 * i], a * c - b * s)
        torch.testing.assert_close(out[..., 2 * i + 1], a * s + b * c)


def test_rope_model_has_no_positional_table_and_rejects_odd_heads() -> None:
    model = Transformer(ModelConfig.tiny(vocab_size=40, positional="rope"))
    assert model.src_pos is None and model.tgt_pos is None
    assert not any("pos" in name for name in model.state_dict())
    with pytest.raises(ValueError, match="d_k must be even"):
        ModelConfig.tiny(vocab_size=40, positional="rope", d_k=7, d_v=8)
    with pytest.raises(ValueError, match="exceed the rotary table"):
        model(
            torch.randint(4, 40, (1, model.config.max_len + 1)),
            torch.randint(4, 40, (1, 3)),
        )
