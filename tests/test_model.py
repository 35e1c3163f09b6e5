"""Invariants of the whole model (§3), parameter counts (Table 3) and
configuration errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from transformer import ModelConfig, Transformer
from transformer.embeddings import sinusoidal_table

V = 30


def tiny(**overrides: object) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.tiny(vocab_size=V, **overrides)).eval()


def random_tokens(b: int, t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(4, V, (b, t), generator=g)


@pytest.mark.parametrize("norm_first", [False, True])
def test_causality_later_targets_do_not_change_earlier_logits(
    norm_first: bool,
) -> None:
    model = tiny(norm_first=norm_first)
    src, tgt = random_tokens(2, 7), random_tokens(2, 9, seed=1)
    t = 4
    changed = tgt.clone()
    changed[:, t + 1 :] = random_tokens(2, 9 - t - 1, seed=2)
    a, b = model(src, tgt), model(src, changed)
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1])
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])


def test_padding_the_source_leaves_outputs_unchanged() -> None:
    model = tiny()
    src, tgt = random_tokens(1, 6), random_tokens(1, 5, seed=1)
    padded = torch.cat([src, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, tgt), model(src, tgt))
    torch.testing.assert_close(model.encode(padded)[:, :6], model.encode(src))


def test_a_batch_equals_its_items_one_at_a_time() -> None:
    model = tiny()
    srcs = [random_tokens(1, n, seed=n) for n in (3, 7, 5)]
    tgts = [random_tokens(1, n, seed=10 + n) for n in (6, 2, 4)]
    src = torch.zeros(3, 7, dtype=torch.long)
    tgt = torch.zeros(3, 6, dtype=torch.long)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, : s.size(1)], tgt[i, : t.size(1)] = s[0], t[0]
    batched = model(src, tgt)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        torch.testing.assert_close(
            batched[i : i + 1, : t.size(1)], model(s, t)
        )


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope"])
def test_cached_decoding_equals_a_full_pass(positional: str) -> None:
    model = tiny(positional=positional)
    src, tgt = random_tokens(2, 6), random_tokens(2, 8, seed=1)
    full = model(src, tgt)
    memory, src_mask = model.encode(src), model.src_mask(src)
    cache = model.new_cache()
    steps = [
        model.decode(tgt[:, i : i + 1], memory, src_mask, cache=cache)
        for i in range(3)
    ]
    # a chunk of 5 after 3 steps
    steps.append(model.decode(tgt[:, 3:], memory, src_mask, cache=cache))
    torch.testing.assert_close(torch.cat(steps, dim=1), full)
    assert cache.length == 8


def test_cache_reorder_selects_batch_rows() -> None:
    model = tiny()
    src, tgt = random_tokens(2, 6), random_tokens(2, 4, seed=1)
    memory, src_mask = model.encode(src), model.src_mask(src)
    cache = model.new_cache()
    model.decode(tgt[:, :3], memory, src_mask, cache=cache)
    index = torch.tensor([1, 1, 0])
    cache.reorder(index)
    last = model.decode(
        tgt[index, 3:], memory[index], src_mask[index], cache=cache
    )
    torch.testing.assert_close(last, model(src[index], tgt[index])[:, 3:])


def test_eval_mode_is_deterministic_and_train_mode_is_not() -> None:
    model = tiny()
    src, tgt = random_tokens(2, 6), random_tokens(2, 5, seed=1)
    assert torch.equal(model(src, tgt), model(src, tgt))
    model.train()
    # dropout 0.1 is on
    assert not torch.equal(model(src, tgt), model(src, tgt))


def test_all_padding_source_gives_finite_logits() -> None:
    model = tiny()
    src = torch.zeros(2, 5, dtype=torch.long)
    src[0, :3] = random_tokens(1, 3)[0]  # item 1 is nothing but padding
    logits = model(src, random_tokens(2, 4, seed=1))
    assert torch.isfinite(logits).all()


def test_attention_maps_have_one_map_per_layer_and_sum_to_one() -> None:
    model = tiny()
    src, tgt = random_tokens(2, 6), random_tokens(2, 5, seed=1)
    maps = model.attention_maps(src, tgt)
    assert [
        len(maps[k]) for k in ("encoder", "decoder_self", "decoder_cross")
    ] == [2, 2, 2]
    assert maps["encoder"][0].shape == (2, 4, 6, 6)
    assert maps["decoder_self"][0].shape == (2, 4, 5, 5)
    assert maps["decoder_cross"][1].shape == (2, 4, 5, 6)
    torch.testing.assert_close(
        maps["decoder_cross"][1].sum(-1), torch.ones(2, 4, 5)
    )
    assert torch.all(maps["decoder_self"][0].triu(diagonal=1) == 0)  # causal


# -- positional encoding (§3.5) -----------------------------------------------
@pytest.mark.parametrize(
    "pos,dim",
    [(0, 0), (0, 1), (1, 0), (3, 1), (10, 4), (10, 5), (57, 62), (99, 63)],
)
def test_positional_encoding_golden_values(pos: int, dim: int) -> None:
    d_model = 64
    i = dim // 2
    angle = pos / 10000 ** (2 * i / d_model)
    expected = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
    assert sinusoidal_table(100, d_model)[pos, dim].item() == pytest.approx(
        expected, abs=1e-6
    )


@pytest.mark.parametrize("k", [1, 5, 17])
def test_pe_at_pos_plus_k_is_a_fixed_linear_function_of_pe_at_pos(
    k: int,
) -> None:
    """§3.5: for any fixed offset k, PE(pos + k) = M_k PE(pos), with M_k
    independent of pos."""
    d_model, n = 32, 200
    table = sinusoidal_table(n + k, d_model).double()
    x, y = table[:n], table[k : n + k]
    # Closed form: M_k rotates each (sin, cos) pair by the angle k * w_i.
    w = 1.0 / 10000 ** (
        torch.arange(0, d_model, 2, dtype=torch.float64) / d_model
    )
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    c, s = torch.cos(k * w), torch.sin(k * w)
    idx = torch.arange(0, d_model, 2)
    m[idx, idx], m[idx, idx + 1] = c, s
    m[idx + 1, idx], m[idx + 1, idx + 1] = -s, c
    torch.testing.assert_close(x @ m.T, y, atol=1e-5, rtol=0)
    # The closed form is not a special case: one least-squares fit over all
    # positions explains PE(pos + k) as well (the low-frequency pairs are
    # near-collinear, so compare the fit, not the matrix).
    fitted = torch.linalg.lstsq(x, y).solution
    torch.testing.assert_close(x @ fitted, y, atol=1e-5, rtol=0)


def test_sequence_longer_than_the_positional_table_is_a_clear_error() -> None:
    model = tiny(max_len=8)
    with pytest.raises(ValueError, match="max_len=8"):
        model(random_tokens(1, 9), random_tokens(1, 3))


# -- parameter counts (Table 3) -----------------------------------------------
def _expected_count(vocab: int, d: int, d_ff: int, n: int) -> int:
    attn = 4 * (d * d + d)
    ffn = d * d_ff + d_ff + d_ff * d + d
    enc = attn + ffn + 2 * 2 * d
    dec = 2 * attn + ffn + 3 * 2 * d
    # one shared, tied embedding matrix; no output bias
    return vocab * d + n * (enc + dec)


def test_base_parameter_count() -> None:
    n = Transformer(ModelConfig.base(vocab_size=37000)).num_parameters()
    assert n == _expected_count(37000, 512, 2048, 6) == 63_082_496
    assert round(n / 1e6, 1) == 63.1  # the paper's Table 3 says 65M


def test_big_parameter_count() -> None:
    n = Transformer(ModelConfig.big(vocab_size=37000)).num_parameters()
    assert n == _expected_count(37000, 1024, 4096, 6) == 214_245_376
    assert abs(n / 1e6 - 214.3) < 0.1  # 214.2M; the paper's Table 3 says 213M


def test_untied_separate_vocabularies() -> None:
    cfg = ModelConfig.tiny(
        vocab_size=V,
        tgt_vocab_size=V + 7,
        share_embeddings=False,
        tie_output=False,
    )
    model = Transformer(cfg)
    assert model.src_embed is not model.tgt_embed
    assert model(random_tokens(2, 5), random_tokens(2, 4)).shape == (
        2,
        4,
        V + 7,
    )
    tied = Transformer(ModelConfig.tiny(vocab_size=V))
    assert tied.src_embed is tied.tgt_embed
    # src embed + tgt embed + output, minus the shared one
    extra = 2 * V * 64 + 7 * 64 + (V + 7) * 64
    assert model.num_parameters() - tied.num_parameters() == extra - V * 64


# -- configuration errors -----------------------------------------------------
@pytest.mark.parametrize(
    "overrides,field",
    [
        (dict(d_model=100, n_heads=8), "d_model"),
        (dict(d_model=0), "d_model"),
        (dict(n_heads=-2), "n_heads"),
        (dict(d_ff=0), "d_ff"),
        (dict(n_layers=0), "n_layers"),
        (dict(max_len=0), "max_len"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(attention_dropout=1.5), "attention_dropout"),
        (dict(positional="rotary"), "positional"),
        (dict(d_k=0), "d_k"),
        (dict(tgt_vocab_size=50), "share_embeddings"),
        (dict(pad_id=1000), "pad_id"),
    ],
)
def test_bad_config_raises_value_error_naming_the_field(
    overrides: dict, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        ModelConfig(vocab_size=1000, **overrides)


def test_config_round_trips_through_json_and_rejects_unknown_fields() -> None:
    cfg = ModelConfig.big(vocab_size=123, positional="learned")
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="d_modle"):
        ModelConfig.from_dict({"vocab_size": 10, "d_modle": 8})


# -- it learns ----------------------------------------------------------------
def test_tiny_model_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = Transformer(ModelConfig.tiny(vocab_size=V, dropout=0.0))
    src = random_tokens(8, 10)
    # BOS + reversed source
    tgt = torch.cat([torch.ones(8, 1, dtype=torch.long), src.flip(1)], dim=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = F.cross_entropy(
            model(src, tgt[:, :-1]).flatten(0, 1), tgt[:, 1:].flatten()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.05:
            break
    assert loss.item() < 0.05


def test_attention_without_biases_matches_the_equations() -> None:
    """``attention_bias=False``: W^Q, W^K, W^V, W^O as in Eq. (1) and §3.2.2,
    with no bias vectors."""
    with_bias = Transformer(
        ModelConfig.base(vocab_size=37000)
    ).num_parameters()
    without = Transformer(
        ModelConfig.base(vocab_size=37000, attention_bias=False)
    )
    assert all(
        m.bias is None
        for name, m in without.named_modules()
        if name.endswith(("w_q", "w_k", "w_v", "w_o"))
    )
    # 6 + 12 attention blocks, 4 biases each
    assert with_bias - without.num_parameters() == 18 * 4 * 512


@pytest.mark.parametrize(
    "embed_init,expected_std",
    [("xavier", (2 / (8000 + 512)) ** 0.5), ("normal", 512**-0.5)],
)
def test_embedding_initialisation(
    embed_init: str, expected_std: float
) -> None:
    model = Transformer(
        ModelConfig.base(vocab_size=8000, n_layers=1, embed_init=embed_init)
    )
    weight = model.src_embed.weight
    assert torch.all(weight[0] == 0)  # the padding row
    assert weight[1:].std().item() == pytest.approx(expected_std, rel=0.02)


def test_flops_per_target_token_counts_matmuls_by_hand() -> None:
    """6 x (parameters per target token) + attention products, against a count
    written out for `tiny`."""
    from transformer.flops import flops_per_target_token

    c = ModelConfig.tiny(vocab_size=100)  # N=2, d_model=64, d_ff=128, h=4
    d, f, n, v, s, t = 64, 128, 2, 100, 10, 5
    encoder = n * (4 * d * d + 2 * d * f) * s / t  # per target token
    # cross-attention K, V: per source token
    decoder = n * (6 * d * d + 2 * d * f) + n * 2 * d * d * s / t
    attention = 2 * n * d * (s * s / t + t / 2 + s)
    assert flops_per_target_token(c, s, t) == pytest.approx(
        6 * (encoder + decoder + d * v) + 6 * attention
    )
    assert c.n_layers == n and c.d_model == d and c.d_ff == f


def test_flops_count_a_gated_feed_forward_layers_third_matrix() -> None:
    from transformer.flops import flops_per_target_token

    relu, swiglu = (
        ModelConfig.tiny(vocab_size=100),
        ModelConfig.tiny(vocab_size=100, activation="swiglu"),
    )
    extra = flops_per_target_token(swiglu, 10, 10) - flops_per_target_token(
        relu, 10, 10
    )
    # 2 layers x (encoder + decoder) x one more d x d_ff matrix
    assert extra == pytest.approx(6 * 2 * 2 * 64 * 128)
