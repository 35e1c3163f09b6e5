"""What came after the paper, as switches of the same model: RMSNorm, the GELU
/ gated feed-forward layers (GLU, GEGLU, SwiGLU) and rotary positions (RoPE),
each against its formula, its defining property or PyTorch's own module."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from transformer import ModelConfig, Transformer
from transformer.attention import MultiHeadAttention
from transformer.feed_forward import PositionwiseFeedForward, matched_d_ff
from transformer.norms import RMSNorm
from transformer.rope import RotaryEmbedding
from transformer.scoring import Additive


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
        {"attention_scoring": "dot"},
        {"attention_scoring": "general"},
        {"attention_scoring": "additive"},
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
        ("attention_scoring", "cosine", "attention_scoring must be one of"),
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
    tables = [n for n, _ in model.named_buffers()] + [
        n for n, _ in model.named_parameters()
    ]
    assert not any(n.startswith(("src_pos", "tgt_pos")) for n in tables)
    with pytest.raises(ValueError, match="d_k must be even"):
        ModelConfig.tiny(vocab_size=40, positional="rope", d_k=7, d_v=8)
    with pytest.raises(ValueError, match="exceed the rotary table"):
        model(
            torch.randint(4, 40, (1, model.config.max_len + 1)),
            torch.randint(4, 40, (1, 3)),
        )


def _copy_projections(
    dst: MultiHeadAttention, src: MultiHeadAttention
) -> None:
    for name in ("w_q", "w_k", "w_v", "w_o"):
        getattr(dst, name).load_state_dict(getattr(src, name).state_dict())


def test_unscaled_dot_product_is_eq_1_without_the_sqrt_dk() -> None:
    # dot(q, k) = scaled_dot(sqrt(d_k) q, k): scale W^Q by sqrt(d_k)
    d_model, h = 32, 4
    paper = MultiHeadAttention(d_model, h).eval()
    dot = MultiHeadAttention(d_model, h, scoring="dot").eval()
    _copy_projections(dot, paper)
    with torch.no_grad():
        paper.w_q.weight.mul_(8**0.5)  # d_k = 8
        paper.w_q.bias.mul_(8**0.5)
    x, y = torch.randn(2, 5, d_model), torch.randn(2, 7, d_model)
    out_dot, w_dot = dot(x, y, y, need_weights=True)
    out_paper, w_paper = paper(x, y, y, need_weights=True)
    torch.testing.assert_close(w_dot, w_paper)
    torch.testing.assert_close(out_dot, out_paper)


def test_general_scoring_starts_as_the_dot_product_and_is_bilinear() -> None:
    d_model, h = 32, 4
    dot = MultiHeadAttention(d_model, h, scoring="dot").eval()
    general = MultiHeadAttention(d_model, h, scoring="general").eval()
    _copy_projections(general, dot)
    x = torch.randn(2, 6, d_model)
    torch.testing.assert_close(general(x, x, x)[0], dot(x, x, x)[0])
    with torch.no_grad():
        general.scoring.weight.copy_(torch.randn(h, 8, 8))
    q = general.project_query(x)
    k, _ = general.project_kv(x, x)
    expected = torch.einsum(
        "bhid,hde,bhje->bhij", q, general.scoring.weight, k
    )
    torch.testing.assert_close(general.scoring(q, k), expected)


def test_additive_scoring_is_bahdanaus_formula() -> None:
    h, d = 2, 3
    score = Additive(h, d)
    q, k = torch.randn(1, h, 2, d), torch.randn(1, h, 4, d)
    out = score(q, k)
    for head in range(h):
        for i in range(2):
            for j in range(4):
                hidden = torch.tanh(
                    q[0, head, i] @ score.w_1[head]
                    + k[0, head, j] @ score.w_2[head]
                )
                torch.testing.assert_close(
                    out[0, head, i, j], hidden @ score.v[head]
                )


@pytest.mark.parametrize(
    "scoring,extra", [("general", 4 * 8 * 8), ("additive", 4 * (2 * 64 + 8))]
)
def test_scoring_parameters_per_attention_layer(
    scoring: str, extra: int
) -> None:
    plain = MultiHeadAttention(32, 4)
    other = MultiHeadAttention(32, 4, scoring=scoring)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(other) - count(plain) == extra
