"""Dropout masks from random bits (transformer.dropout): the distribution of
nn.Dropout, P_drop rounded to 2^-16, the same gradient rule, and the training
setting that chooses them."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from transformer import ModelConfig, Transformer
from transformer.dropout import (
    Dropout,
    bits_dropout,
    drop_mask,
    use_bits_masks,
)
from transformer.train.device import dropout_bits

CPU = torch.device("cpu")


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_each_element_drops_with_p_rounded_to_16_bits(p: float) -> None:
    torch.manual_seed(0)
    n = 1 << 20
    mask = drop_mask((n,), p, CPU)
    assert mask.dtype == torch.bool and mask.shape == (n,)
    expected = round(p * 65536) / 65536
    assert abs(expected - p) <= 2**-17
    sigma = math.sqrt(expected * (1 - expected) / n)
    assert abs(mask.float().mean().item() - expected) < 5 * sigma
    # the four 16-bit quarters of each random word are alike (a biased top
    # bit would show in one quarter)
    quarters = mask.view(-1, 4).float().mean(dim=0)
    assert (quarters - expected).abs().max().item() < 5 * sigma * 2


def test_neighbouring_elements_are_independent() -> None:
    torch.manual_seed(1)
    mask = drop_mask((1 << 20,), 0.5, CPU).float()
    # P(both dropped) = p^2 for elements 1 and 2 apart
    for lag in (1, 2, 3, 4):
        both = (mask[:-lag] * mask[lag:]).mean().item()
        assert abs(both - 0.25) < 0.005, lag


def test_p_zero_and_one_and_bad_p() -> None:
    x = torch.randn(64, 8)
    assert not drop_mask(x.shape, 0.0, CPU).any()
    assert drop_mask(x.shape, 1.0, CPU).all()
    assert bits_dropout(x, 0.0) is x
    assert bits_dropout(x, 0.5, training=False) is x
    assert (bits_dropout(x, 1.0) == 0).all()
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got 1.5"):
        bits_dropout(x, 1.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_kept_elements_are_scaled_and_the_gradient_follows_the_mask(
    dtype: torch.dtype,
) -> None:
    p = 0.1
    torch.manual_seed(2)
    x = (torch.rand(256, 64) + 0.5).to(dtype).requires_grad_()
    out = bits_dropout(x, p)
    assert out.dtype == dtype and out.shape == x.shape
    kept = out != 0
    assert 0.05 < 1 - kept.float().mean().item() < 0.15
    # one over the probability of being kept, P_drop rounded to 2^-16
    scale = 65536 / (65536 - round(p * 65536))
    assert abs(scale - 1 / (1 - p)) < 2e-5
    torch.testing.assert_close(out[kept], (x * scale)[kept])
    g = torch.randn_like(out)
    out.backward(g)
    torch.testing.assert_close(x.grad, torch.where(kept, g * scale, 0.0))


def test_the_expected_value_is_kept() -> None:
    torch.manual_seed(3)
    out = bits_dropout(torch.ones(1 << 20), 0.2)
    assert abs(out.mean().item() - 1.0) < 0.005


def test_below_2_to_the_minus_17_nothing_is_dropped_or_scaled() -> None:
    x = torch.randn(1000)
    assert torch.equal(bits_dropout(x, 1e-6), x)


def test_an_inplace_module_still_draws_bits() -> None:
    module = Dropout(0.5, inplace=True)
    module.bits = True
    x = torch.ones(64, 64)
    torch.manual_seed(8)
    out = module(x)
    torch.manual_seed(8)
    assert torch.equal(out, bits_dropout(torch.ones(64, 64), 0.5))


def test_the_seed_repeats_the_mask() -> None:
    x = torch.randn(32, 32)
    torch.manual_seed(4)
    a = bits_dropout(x, 0.3)
    torch.manual_seed(4)
    b = bits_dropout(x, 0.3)
    torch.manual_seed(5)
    c = bits_dropout(x, 0.3)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_module_is_nn_dropout_until_switched() -> None:
    module = Dropout(0.25)
    assert isinstance(module, torch.nn.Dropout)
    assert module.state_dict() == {}
    x = torch.randn(16, 16)
    torch.manual_seed(6)
    ref = F.dropout(x, 0.25)
    torch.manual_seed(6)
    assert torch.equal(module(x), ref)
    module.bits = True
    assert "masks=bits" in repr(module)
    torch.manual_seed(6)
    out = module(x)
    torch.manual_seed(6)
    assert torch.equal(out, bits_dropout(x, 0.25))
    module.eval()
    assert torch.equal(module(x), x)


def test_a_model_switches_every_dropout_and_evaluates_the_same() -> None:
    config = ModelConfig(
        n_layers=2, d_model=32, d_ff=64, n_heads=4, vocab_size=50
    )
    torch.manual_seed(0)
    model = Transformer(config)
    n = sum(isinstance(m, Dropout) for m in model.modules())
    # one for both embeddings, two residuals per encoder layer, three per
    # decoder layer
    assert n == 1 + 2 * 2 + 3 * 2
    assert use_bits_masks(model) == n
    assert all(m.bits for m in model.modules() if isinstance(m, Dropout))
    src = torch.randint(4, 50, (3, 7))
    tgt = torch.randint(4, 50, (3, 6))
    model.eval()
    with torch.no_grad():
        on = model(src, tgt)
        use_bits_masks(model, False)
        off = model(src, tgt)
    torch.testing.assert_close(on, off, rtol=0, atol=0)
    # in training the switch changes the masks, and only them
    model.train()
    use_bits_masks(model)
    torch.manual_seed(7)
    a = model(src, tgt)
    torch.manual_seed(7)
    assert torch.equal(a, model(src, tgt))


def test_the_decoder_only_model_switches_too() -> None:
    from transformer.build import build_model

    config = ModelConfig(
        n_layers=2,
        d_model=32,
        d_ff=64,
        n_heads=4,
        vocab_size=50,
        architecture="decoder_only",
    )
    model = build_model(config)
    # one for the embeddings, two residuals per layer
    assert use_bits_masks(model) == 1 + 2 * 2


def test_the_training_setting() -> None:
    assert dropout_bits(CPU) is True  # "auto" on the CPU
    assert dropout_bits(torch.device("cuda")) is False
    assert dropout_bits(torch.device("cuda"), "bits") is True
    assert dropout_bits(CPU, "torch") is False
    with pytest.raises(ValueError, match="'auto', 'bits' or 'torch'"):
        dropout_bits(CPU, "fast")
    # what a recorded CPU run drew with; before the setting: PyTorch's
    from transformer.train.device import recorded_sampler

    assert recorded_sampler({"train": {}}) == "torch"
    assert recorded_sampler({"train": {"dropout_masks": "auto"}}) == "bits"
    assert recorded_sampler({"train": {"dropout_masks": "torch"}}) == "torch"


def test_resuming_a_checkpoint_from_before_the_setting_says_how_to_keep_its_masks(
    tmp_path,
) -> None:
    from transformer.train.run_dir import check_resume

    saved = {"data": {}, "model": {"preset": "tiny"}, "train": {"seed": 0}}
    current = {
        "data": {},
        "model": {"preset": "tiny"},
        "train": {"seed": 0, "dropout_masks": "auto"},
    }
    with pytest.warns(UserWarning, match='dropout_masks="torch"'):
        check_resume(saved, current, tmp_path)
    current["train"]["dropout_masks"] = "torch"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_resume(saved, current, tmp_path)
