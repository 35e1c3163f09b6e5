"""Eq. (1) and §3.2.2 against PyTorch's own implementations, on copied
weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from transformer.attention import MultiHeadAttention, attention, fast_attention
from transformer.masks import causal_mask, padding_mask
from transformer.reference import torch_attention
from transformer.scoring import make_scoring

B, H, TQ, TK, DK, DV = 3, 4, 5, 7, 8, 6


def _qkv(
    tq: int = TQ, tk: int = TK
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(B, H, tq, DK, generator=g),
        torch.randn(B, H, tk, DK, generator=g),
        torch.randn(B, H, tk, DV, generator=g),
    )


def _pad_mask() -> torch.Tensor:
    tokens = torch.tensor(
        [[5, 6, 7, 8, 9, 4, 3], [5, 6, 7, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0, 0]]
    )
    return padding_mask(tokens, pad_id=0)  # (B, 1, 1, TK)


@pytest.mark.parametrize("impl", ["explicit", "fast"])
@pytest.mark.parametrize(
    "masking", ["none", "padding", "causal", "padding+causal"]
)
def test_attention_matches_torch_sdpa(impl: str, masking: str) -> None:
    tq = TK if "causal" in masking else TQ
    q, k, v = _qkv(tq=tq)
    mask = _pad_mask() if "padding" in masking else None
    is_causal = "causal" in masking
    ref_mask = mask
    if is_causal:
        c = causal_mask(tq, TK)
        ref_mask = c if mask is None else mask & c
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=ref_mask)
    if impl == "explicit":
        out, weights = attention(q, k, v, mask, is_causal=is_causal)
        torch.testing.assert_close(weights.sum(-1), torch.ones(B, H, tq))
    else:
        out = fast_attention(q, k, v, mask, is_causal=is_causal)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(("tq", "tk"), [(2, TK), (1, TK), (TK, 3)])
def test_fast_causal_without_mask_matches_explicit_when_lengths_differ(
    tq: int, tk: int
) -> None:
    # is_causal means causal_mask(T_q, T_k) (queries are the last T_q keys, as
    # in cached decoding); SDPA's own is_causal aligns top-left instead, so the
    # fast path must not hand it over when T_q != T_k.
    q, k, v = _qkv(tq=tq, tk=tk)
    expected, _ = attention(q, k, v, is_causal=True)
    torch.testing.assert_close(
        fast_attention(q, k, v, is_causal=True), expected
    )


def test_explicit_weights_are_the_softmax_of_scaled_scores() -> None:
    q, k, v = _qkv()
    _, weights = attention(q, k, v)
    expected = torch.softmax(q @ k.transpose(-2, -1) / DK**0.5, dim=-1)
    torch.testing.assert_close(weights, expected)


def test_masked_keys_get_exactly_zero_weight() -> None:
    q, k, v = _qkv()
    mask = _pad_mask()
    _, weights = attention(q, k, v, mask)
    assert torch.all(weights.masked_select(~mask.expand_as(weights)) == 0)


@pytest.mark.parametrize("impl", ["explicit", "fast"])
def test_fully_masked_row_gives_zero_not_nan(impl: str) -> None:
    q, k, v = _qkv()
    mask = torch.ones(B, 1, TQ, TK, dtype=torch.bool)
    mask[1, :, 2, :] = False  # query 2 of item 1 may attend to nothing
    if impl == "explicit":
        out, weights = attention(q, k, v, mask)
        assert torch.all(weights[1, :, 2] == 0)
    else:
        out = fast_attention(q, k, v, mask)
    assert torch.isfinite(out).all()
    assert torch.all(out[1, :, 2] == 0)
    # The other rows are unaffected by the special case.
    expected = F.scaled_dot_product_attention(q[0:1], k[0:1], v[0:1])
    torch.testing.assert_close(out[0:1], expected)


@pytest.mark.parametrize("need_weights", [False, True])
def test_multi_head_attention_matches_torch(need_weights: bool) -> None:
    d_model, n_heads = 32, 4
    ours = MultiHeadAttention(d_model, n_heads).eval()
    ref = torch_attention(ours, d_model).eval()
    g = torch.Generator().manual_seed(1)
    query = torch.randn(B, TQ, d_model, generator=g)
    memory = torch.randn(B, TK, d_model, generator=g)
    key_mask = _pad_mask()  # (B, 1, 1, TK), True = attend

    out, weights = ours(
        query, memory, memory, key_mask, need_weights=need_weights
    )
    expected, expected_w = ref(
        query,
        memory,
        memory,
        key_padding_mask=~key_mask[:, 0, 0, :],
        average_attn_weights=False,
    )
    torch.testing.assert_close(out, expected)
    if need_weights:
        torch.testing.assert_close(weights, expected_w)


def test_multi_head_attention_causal_self_attention_matches_torch() -> None:
    d_model, n_heads, t = 32, 8, 6
    ours = MultiHeadAttention(d_model, n_heads).eval()
    ref = torch_attention(ours, d_model).eval()
    x = torch.randn(2, t, d_model)
    out, _ = ours(x, x, x, is_causal=True)
    torch_mask = nn.Transformer.generate_square_subsequent_mask(t)
    expected, _ = ref(x, x, x, attn_mask=torch_mask, need_weights=False)
    torch.testing.assert_close(out, expected)


def test_separate_d_k_and_d_v_shapes_and_parameter_count() -> None:
    """Table 3 row (B) shrinks d_k only; W^O maps h*d_v back to d_model."""
    mha = MultiHeadAttention(d_model=64, n_heads=4, d_k=8, d_v=16)
    x = torch.randn(2, 5, 64)
    out, w = mha(x, x, x, need_weights=True)
    assert out.shape == (2, 5, 64)
    assert w is not None and w.shape == (2, 4, 5, 5)
    expected = 2 * (64 * 32 + 32) + (64 * 64 + 64) + (64 * 64 + 64)
    assert sum(p.numel() for p in mha.parameters()) == expected


@pytest.mark.parametrize("use_autocast", [False, True])
def test_fast_attention_on_cpu_attends_bf16_inputs_in_float32(
    use_autocast: bool,
) -> None:
    """CPU flash attention is ~3x slower in bf16 than in fp32 with a mask: bf16
    heads are attended in fp32."""
    q, k, v = (torch.randn(3, 2, 5, 8).to(torch.bfloat16) for _ in range(3))
    mask = padding_mask(
        torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]), 0
    )
    expected = fast_attention(
        q.float(), k.float(), v.float(), mask, is_causal=True
    ).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_autocast):
        out = fast_attention(q, k, v, mask, is_causal=True)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    "scoring", ["scaled_dot", "dot", "general", "additive"]
)
def test_every_scoring_attends_bf16_inputs_in_float32_on_cpu(
    scoring: str,
) -> None:
    """Under bf16 autocast the explicit path (every scoring but the paper's
    fused one) computes scores, softmax and weighted sum in float32, as the
    fused path does, so that rows of a scoring comparison differ only in
    their scoring."""
    torch.manual_seed(0)
    module = None if scoring == "scaled_dot" else make_scoring(scoring, 4, 8)
    q, k, v = (torch.randn(2, 4, 6, 8).to(torch.bfloat16) for _ in range(3))
    mask = causal_mask(6)
    expected, expected_w = attention(
        q.float(), k.float(), v.float(), mask, scoring=module
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, w = attention(q, k, v, mask, scoring=module)
    assert out.dtype == torch.bfloat16 and w.dtype == torch.float32
    torch.testing.assert_close(w, expected_w, rtol=0, atol=0)
    torch.testing.assert_close(
        out, expected.to(torch.bfloat16), rtol=0, atol=0
    )


def test_a_scoring_layer_trains_under_autocast_with_float32_scores() -> None:
    """The training path: bf16 projections under autocast, then the scores,
    softmax and their gradients in float32 for the scoring's own weights."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(
        d_model=32, n_heads=4, dropout=0.1, scoring="additive"
    ).train()
    x = torch.randn(2, 6, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, w = mha(x, x, x, need_weights=True)
    assert out.dtype == torch.bfloat16 and w is not None
    assert w.dtype == torch.float32
    out.float().sum().backward()
    for p in mha.scoring.parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
