"""The rank argument for causal attention (transformer/rank.py): causal
softmax matrices are always of full rank, bidirectional ones need not be."""

from __future__ import annotations

import pytest
import torch

from transformer import ModelConfig, build_model
from transformer.masks import causal_mask
from transformer.rank import (
    BINS,
    attention_spectra,
    effective_rank,
    numerical_rank,
    spectrum_bins,
)


@pytest.mark.parametrize("length", [2, 7, 20])
def test_causal_softmax_matrices_have_full_rank(length: int) -> None:
    """Lower-triangular with a positive diagonal: det = the product of the
    diagonal > 0. (Their smallest singular values still shrink fast with L,
    which the numerical rank sees: random triangular matrices are badly
    conditioned.)"""
    scores = torch.randn(50, length, length, dtype=torch.float64)
    causal = scores.masked_fill(~causal_mask(length), float("-inf"))
    a = causal.softmax(dim=-1)
    diagonal = a.diagonal(dim1=-2, dim2=-1)
    assert torch.all(diagonal > 0)
    assert torch.equal(a, a.tril())
    torch.testing.assert_close(torch.linalg.det(a), diagonal.prod(dim=-1))
    if length <= 7:
        s = torch.linalg.svdvals(a)
        assert torch.all(numerical_rank(s) == length)


def test_a_bidirectional_matrix_of_alike_queries_has_rank_one() -> None:
    row = torch.randn(1, 9, dtype=torch.float64)
    a = row.expand(9, 9).softmax(dim=-1)  # every query attends alike
    s = torch.linalg.svdvals(a)
    assert int(numerical_rank(s)) == 1
    assert float(effective_rank(s)) == pytest.approx(1.0, abs=1e-6)


def test_effective_rank_and_spectrum_by_hand() -> None:
    s = torch.tensor([4.0, 2.0, 1.0, 1.0])
    p = s / 8
    assert float(effective_rank(s)) == pytest.approx(
        float(torch.exp(-(p * p.log()).sum()))
    )
    assert float(effective_rank(torch.ones(5))) == pytest.approx(5.0)
    assert spectrum_bins(s, bins=4).tolist() == [1.0, 0.5, 0.25, 0.25]
    assert int(numerical_rank(torch.tensor([1.0, 1e-2, 1e-4]), 1e-3)) == 2
    # by default, L x float32's epsilon
    assert int(numerical_rank(torch.tensor([1.0, 1e-6, 1e-7]))) == 2


@pytest.mark.parametrize("arch", ["encoder_decoder", "decoder_only"])
def test_every_causal_matrix_of_a_model_has_full_rank(arch: str) -> None:
    model = build_model(
        ModelConfig.tiny(40, architecture=arch, dropout=0.0)
    ).eval()
    pairs = [([5, 6, 7, 8, 2], [1, 9, 10]), ([11, 12, 2], [1, 13, 14, 15])]
    spectra = attention_spectra(model, pairs)
    causal = (
        "decoder self-attention"
        if arch == "encoder_decoder"
        else "decoder-only self-attention"
    )
    assert spectra[causal]["full_rank_share"] == 1.0
    assert spectra[causal]["rank_fraction"] == 1.0
    layers_heads = model.config.n_layers * model.config.n_heads
    assert spectra[causal]["matrices"] == 2 * layers_heads
    assert len(spectra[causal]["spectrum"]) == BINS
    assert spectra[causal]["spectrum"][0] == 1.0
    if arch == "encoder_decoder":
        enc = spectra["encoder self-attention"]
        assert enc["length"] == (5 + 3) / 2
        assert 0 < enc["rank_fraction"] <= 1


def test_prefix_lm_is_measured_as_its_own_kind() -> None:
    model = build_model(
        ModelConfig.tiny(40, architecture="prefix_lm", dropout=0.0)
    ).eval()
    spectra = attention_spectra(model, [([5, 6, 2], [1, 7])])
    assert list(spectra) == [
        "prefix-LM self-attention",
        "prefix-LM source block",
    ]
    assert spectra["prefix-LM self-attention"]["length"] == 5
    assert spectra["prefix-LM source block"]["length"] == 3
    layers_heads = model.config.n_layers * model.config.n_heads
    assert spectra["prefix-LM source block"]["matrices"] == layers_heads


def test_a_prefix_lm_matrix_is_block_lower_triangular() -> None:
    """The source rows see only the source and the target block is causal,
    so det A = det A_ss x the product of the target block's diagonal: in
    exact arithmetic, full rank exactly when the source block has it."""
    model = build_model(
        ModelConfig.tiny(40, architecture="prefix_lm", dropout=0.0)
    ).eval()
    src, tgt = torch.tensor([[5, 6, 7, 2]]), torch.tensor([[1, 8, 9]])
    for w in model.attention_maps(src, tgt)["self"]:
        a = w[0].double()  # (h, S+T, S+T)
        assert torch.all(a[:, :4, 4:] == 0)  # the source never sees the target
        assert torch.all(a[:, 4:, 4:].triu(1) == 0)  # the target is causal
        assert torch.all(a[:, :4, :4] > 0)  # the source reads both ways
        diag = a[:, 4:, 4:].diagonal(dim1=-2, dim2=-1)
        sign, logdet = torch.linalg.slogdet(a)
        sign_ss, logdet_ss = torch.linalg.slogdet(a[:, :4, :4])
        assert torch.equal(sign, sign_ss)
        torch.testing.assert_close(
            logdet, logdet_ss + diag.log().sum(-1), rtol=0, atol=1e-9
        )


def test_the_source_block_is_the_first_source_length_rows_and_columns() -> (
    None
):
    model = build_model(
        ModelConfig.tiny(40, architecture="prefix_lm", dropout=0.0)
    ).eval()
    src, tgt = [5, 6, 7, 8, 2], [1, 9, 10]
    block = attention_spectra(model, [(src, tgt)])["prefix-LM source block"]
    maps = model.attention_maps(torch.tensor([src]), torch.tensor([tgt]))
    a = torch.cat([w[0] for w in maps["self"]]).double()[:, :5, :5]
    # every row of the source block is a whole softmax over the source
    torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:2]).double())
    s = torch.linalg.svdvals(a)
    expected = (effective_rank(s) / 5).mean().item()
    assert block["effective_rank_fraction"] == pytest.approx(expected)
