"""How saturated a trained model's softmax attention is: footnote 4's
argument (§3.2.1), measured on trained weights instead of random vectors.

The paper scales dot products by 1/sqrt(d_k) because, unscaled, they grow
like sqrt(d_k) and "push the softmax function into regions where it has
extremely small gradients". For one row w = softmax(s) of an attention matrix,
with m the key of the largest weight, this module measures what the book's
random-vector table measures:

* the **largest weight** w_m (1 for a one-hot row, 1/T for a uniform one);
* the **gradient of the largest weight** with respect to the scores,
  |∂w_m/∂s| = w_m sqrt((1 - w_m)^2 + sum_{j != m} w_j^2), from
  ∂w_m/∂s_j = w_m (δ_mj - w_j): 0 for a one-hot row, the softmax saturated.

Both are averaged over every row of every head and layer, per kind of
attention, one sentence at a time (no padding). A masked key has weight 0 and
adds nothing to either.

Shapes: T_q queries, T_k keys, h heads.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from transformer.build import Model
from transformer.decoder_only import DecoderOnlyTransformer


def largest_weight(weights: Tensor) -> Tensor:
    """(..., T_q, T_k) softmax rows -> (..., T_q) each row's largest."""
    return weights.max(dim=-1).values


def largest_weight_gradient(weights: Tensor) -> Tensor:
    """(..., T_q, T_k) softmax rows -> (..., T_q) |∂w_m/∂s|, the norm of the
    gradient of each row's largest weight w_m with respect to its scores."""
    w = weights.double()
    top = w.max(dim=-1).values
    others = (w * w).sum(dim=-1) - top * top  # sum over j != m of w_j^2
    return top * ((1 - top) ** 2 + others.clamp_min(0)).sqrt()


def _maps(model: Model, src: Tensor, tgt: Tensor) -> dict[str, list[Tensor]]:
    """One sentence's attention weights by kind, per layer (1, h, T_q, T_k)."""
    maps = model.attention_maps(src, tgt)
    if isinstance(model, DecoderOnlyTransformer):
        kind = (
            "prefix-LM self-attention"
            if model.config.architecture == "prefix_lm"
            else "decoder-only self-attention"
        )
        return {kind: maps["self"]}
    return {
        "encoder self-attention": maps["encoder"],
        "decoder self-attention": maps["decoder_self"],
        "encoder-decoder attention": maps["decoder_cross"],
    }


@torch.no_grad()
def attention_saturation(
    model: Model, pairs: Sequence[tuple[list[int], list[int]]]
) -> dict[str, dict[str, float]]:
    """The saturation of ``model``'s (eval mode) attention on ``pairs`` of
    (source ids + EOS, BOS + target ids), one pair at a time.

    Returns, per kind of attention: the ``rows`` counted (queries x heads x
    layers x sentences), their mean ``largest_weight`` and mean
    ``largest_weight_gradient`` (see the module's docstring).
    """
    if model.training:
        raise ValueError("measure attention with the model in eval mode")
    if not pairs:
        raise ValueError("measure attention on at least one sentence pair")
    device = next(model.parameters()).device
    sums: dict[str, list[float]] = {}
    for src_ids, tgt_ids in pairs:
        src = torch.tensor([src_ids], device=device)
        tgt = torch.tensor([tgt_ids], device=device)
        for kind, layers in _maps(model, src, tgt).items():
            row = sums.setdefault(kind, [0.0, 0.0, 0.0])
            for w in layers:
                w = w.float()
                row[0] += w[..., 0].numel()
                row[1] += float(largest_weight(w).double().sum())
                row[2] += float(largest_weight_gradient(w).sum())
    return {
        kind: {
            "rows": int(n),
            "largest_weight": top / n,
            "largest_weight_gradient": grad / n,
        }
        for kind, (n, top, grad) in sums.items()
    }
