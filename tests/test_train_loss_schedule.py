"""The loss of §5.4 and the learning-rate schedule of Eq. (3), §5.3."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from transformer import ModelConfig, Transformer
from transformer.train import (
    TransformerSchedule,
    build_optimizer,
    label_smoothed_cross_entropy,
    transformer_lr,
)
from transformer.train.loss import projected_label_smoothed_cross_entropy

PAD = 0


def logits_and_target(
    b: int = 3, t: int = 5, v: int = 11
) -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.randn(b, t, v) * 3
    target = torch.randint(1, v, (b, t))
    target[0, 3:] = PAD  # some padding
    target[2, 1:] = PAD
    return logits, target


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_loss_equals_torch_cross_entropy_with_label_smoothing(
    smoothing: float,
) -> None:
    logits, target = logits_and_target()
    out = label_smoothed_cross_entropy(
        logits, target, smoothing, ignore_index=PAD, reduction="mean"
    )
    expected = F.cross_entropy(
        logits.flatten(0, 1),
        target.flatten(),
        label_smoothing=smoothing,
        ignore_index=PAD,
    )
    torch.testing.assert_close(out.loss, expected)
    # and "sum" is the mean times the number of real tokens
    summed = label_smoothed_cross_entropy(
        logits, target, smoothing, ignore_index=PAD
    )
    assert summed.n_tokens.item() == int((target != PAD).sum())
    torch.testing.assert_close(summed.loss, expected * summed.n_tokens)


def test_nll_is_plain_cross_entropy_and_padding_is_ignored() -> None:
    logits, target = logits_and_target()
    out = label_smoothed_cross_entropy(
        logits, target, 0.1, ignore_index=PAD, reduction="mean"
    )
    torch.testing.assert_close(
        out.nll,
        F.cross_entropy(
            logits.flatten(0, 1), target.flatten(), ignore_index=PAD
        ),
    )
    # Changing the logits at padded positions changes nothing.
    changed = logits.clone()
    changed[target == PAD] = torch.randn_like(changed[target == PAD]) * 100
    again = label_smoothed_cross_entropy(
        changed, target, 0.1, ignore_index=PAD, reduction="mean"
    )
    torch.testing.assert_close(again.loss, out.loss)


def test_smoothed_loss_has_the_entropy_floor() -> None:
    """With ε > 0 even the best prediction (p = q') costs H(q') > 0: the loss
    is minimised by q', not one-hot."""
    v, eps = 7, 0.1
    target = torch.tensor([3])
    q = torch.full((1, v), eps / v)
    q[0, 3] += 1 - eps
    at_q = label_smoothed_cross_entropy(
        q.log(), target, eps, ignore_index=PAD
    ).loss
    entropy = -(q * q.log()).sum()
    torch.testing.assert_close(at_q, entropy)
    near_one_hot = torch.full((1, v), -20.0)
    near_one_hot[0, 3] = 20.0
    assert (
        label_smoothed_cross_entropy(
            near_one_hot, target, eps, ignore_index=PAD
        ).loss
        > at_q
    )


def test_loss_rejects_bad_smoothing() -> None:
    logits, target = logits_and_target()
    with pytest.raises(ValueError, match="label smoothing"):
        label_smoothed_cross_entropy(logits, target, 1.0)


@pytest.mark.parametrize("step", [1, 4000, 16000])
def test_schedule_golden_values_d512(step: int) -> None:
    expected = 512**-0.5 * min(step**-0.5, step * 4000**-1.5)
    assert transformer_lr(
        step, d_model=512, warmup_steps=4000
    ) == pytest.approx(expected, rel=1e-12)


def test_schedule_hand_computed_numbers() -> None:
    # step 1: 512^-0.5 * 4000^-1.5 = 1 / (22.627... * 252982.2...) = 1.7469e-7
    assert transformer_lr(1, 512) == pytest.approx(1.746928e-7, rel=1e-6)
    # step 4000 (the peak): 512^-0.5 * 4000^-0.5 = 1 / sqrt(2048000) =
    # 6.98771e-4
    assert transformer_lr(4000, 512) == pytest.approx(
        1 / math.sqrt(2_048_000), rel=1e-12
    )
    assert transformer_lr(4000, 512) == pytest.approx(6.987712e-4, rel=1e-6)
    # step 16000 = 4 x warmup: half the peak
    assert transformer_lr(16000, 512) == pytest.approx(
        transformer_lr(4000, 512) / 2, rel=1e-12
    )
    # the scale factor multiplies everything
    assert transformer_lr(100, 512, scale=2.0) == pytest.approx(
        2 * transformer_lr(100, 512)
    )


def test_schedule_rises_then_falls() -> None:
    lrs = [transformer_lr(s, 64, warmup_steps=10) for s in range(1, 40)]
    peak = max(range(len(lrs)), key=lrs.__getitem__) + 1
    assert peak == 10
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10]))
    assert all(a > b for a, b in zip(lrs[9:], lrs[10:]))


def test_schedule_rejects_step_zero() -> None:
    with pytest.raises(ValueError, match="starts at step 1"):
        transformer_lr(0, 512)


def test_schedule_sets_optimizer_lr_once_per_call_and_round_trips() -> None:
    model = Transformer(ModelConfig.tiny(vocab_size=13))
    opt = build_optimizer(model)
    assert opt.defaults["betas"] == (0.9, 0.98) and opt.defaults["eps"] == 1e-9
    sched = TransformerSchedule(d_model=64, warmup_steps=4)
    for step in range(1, 4):
        lr = sched.step(opt)
        assert lr == transformer_lr(step, 64, 4)
        assert all(g["lr"] == lr for g in opt.param_groups)
    other = TransformerSchedule(d_model=64, warmup_steps=4)
    other.load_state_dict(sched.state_dict())
    assert other.step(opt) == transformer_lr(4, 64, 4)


def test_optimizer_holds_a_tied_matrix_once() -> None:
    model = Transformer(ModelConfig.tiny(vocab_size=13))
    opt = build_optimizer(model)
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == model.num_parameters()


def hidden_weight_target(b: int = 3, t: int = 6, d: int = 8, v: int = 13):
    hidden = torch.randn(b, t, d, requires_grad=True)
    weight = torch.randn(v, d, requires_grad=True)
    target = torch.randint(1, v, (b, t))
    target[0, 4:] = PAD
    target[2, 1:] = PAD
    return hidden, weight, target


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("chunk", [1, 5, None])
def test_projected_loss_equals_logits_then_loss_with_the_same_gradients(
    smoothing: float, chunk: int | None
) -> None:
    """The fused, chunked projection + loss = hidden @ W^T then the loss:
    values and both gradients."""
    hidden, weight, target = hidden_weight_target()
    ref = label_smoothed_cross_entropy(
        hidden @ weight.t(), target, smoothing, PAD
    )
    (ref.loss * 0.5).backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    out = projected_label_smoothed_cross_entropy(
        hidden, weight, target, smoothing, PAD, chunk_tokens=chunk
    )
    (out.loss * 0.5).backward()
    torch.testing.assert_close(out.loss, ref.loss)
    torch.testing.assert_close(out.nll, ref.nll)
    assert (
        out.n_tokens.item()
        == ref.n_tokens.item()
        == int((target != PAD).sum())
    )
    torch.testing.assert_close(hidden.grad, grads[0])
    torch.testing.assert_close(weight.grad, grads[1])
    # padding positions get no gradient
    assert hidden.grad[2, 1:].abs().max() == 0
    assert not out.nll.requires_grad  # the NLL is a metric, not a loss


def test_projected_loss_under_bf16_autocast_stays_close_to_float32() -> None:
    hidden, weight, target = hidden_weight_target(b=4, t=16, d=32, v=50)
    ref = projected_label_smoothed_cross_entropy(
        hidden, weight, target, 0.1, PAD
    )
    ref.loss.backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = projected_label_smoothed_cross_entropy(
            hidden, weight, target, 0.1, PAD
        )
    out.loss.backward()
    assert (
        out.loss.dtype == torch.float32 and weight.grad.dtype == torch.float32
    )
    torch.testing.assert_close(out.loss, ref.loss, rtol=2e-2, atol=0)
    for got, expected in zip((hidden.grad, weight.grad), grads):
        assert (got - expected).norm() / expected.norm() < 2e-2


def test_projected_loss_without_grad_builds_no_graph() -> None:
    hidden, weight, target = hidden_weight_target()
    with torch.no_grad():
        out = projected_label_smoothed_cross_entropy(
            hidden, weight, target, 0.1, PAD
        )
    assert not out.loss.requires_grad
    torch.testing.assert_close(
        out.loss,
        label_smoothed_cross_entropy(
            hidden @ weight.t(), target, 0.1, PAD
        ).loss.detach(),
    )


def test_model_states_then_output_weight_give_the_logits() -> None:
    model = Transformer(ModelConfig.tiny(vocab_size=40)).eval()
    src, tgt = torch.randint(4, 40, (2, 7)), torch.randint(4, 40, (2, 5))
    hidden = model(src, tgt, project=False)
    assert hidden.shape == (2, 5, model.config.d_model)
    torch.testing.assert_close(
        hidden @ model.output_weight.t(), model(src, tgt)
    )
    assert model.output_weight is model.tgt_embed.weight  # tied (§3.4)
