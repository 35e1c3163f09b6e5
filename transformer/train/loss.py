"""The training loss: cross-entropy with label smoothing ε_ls = 0.1 (§5.4), padding ignored.

§5.4 cites Szegedy et al. (2016), "Rethinking the Inception Architecture", whose smoothed target
spreads ε uniformly over all K classes, the true class included:

    q'(k) = (1 - ε) · δ(k, y) + ε / K

This is exactly what ``F.cross_entropy(..., label_smoothing=ε)`` computes, and the tests check the two
agree. (The Annotated Transformer instead spreads ε over K - 2 classes, leaving out the true class and
padding; fairseq over K - 1. The differences are O(ε/K) and the paper does not say which it used.)

The loss per token is  -Σ_k q'(k) log p(k) = (1 - ε) · NLL + ε · mean_k(-log p(k)).

Label smoothing puts a floor under the loss (the entropy of q'), so perplexity is reported from the
plain negative log-likelihood ``nll``, never from the smoothed loss.

Shapes: N tokens (B·T flattened), V vocabulary size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class LossOutput(NamedTuple):
    loss: Tensor  # label-smoothed cross-entropy (what is optimised)
    nll: Tensor  # plain negative log-likelihood of the reference tokens (for perplexity)
    n_tokens: Tensor  # number of non-padding target tokens (int64 scalar)


def label_smoothed_cross_entropy(
    logits: Tensor,
    target: Tensor,
    smoothing: float = 0.1,
    ignore_index: int = 0,
    reduction: str = "sum",
) -> LossOutput:
    """Label-smoothed cross-entropy over the non-padding target positions.

    Args:
        logits: (..., V) unnormalised scores; computed in float32 whatever their dtype.
        target: (...) reference token ids; positions equal to ``ignore_index`` do not count.
        smoothing: ε_ls, the probability mass spread uniformly over the vocabulary.
        ignore_index: the padding id.
        reduction: "sum" (over tokens; the trainer divides by the tokens of a whole optimizer step so
            that gradient accumulation and data parallelism give the same gradient) or "mean".

    Returns:
        ``LossOutput(loss, nll, n_tokens)`` with ``loss`` and ``nll`` reduced the same way.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label smoothing must lie in [0, 1), got {smoothing!r}")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    log_probs = torch.log_softmax(logits.float(), dim=-1).flatten(0, -2)  # (N, V)
    target = target.reshape(-1)  # (N,)
    keep = target != ignore_index  # (N,)
    safe_target = target.masked_fill(~keep, 0)
    nll = -log_probs.gather(1, safe_target[:, None]).squeeze(1)  # (N,)
    uniform = -log_probs.mean(dim=-1)  # (N,) cross-entropy against the uniform distribution
    loss = (1.0 - smoothing) * nll + smoothing * uniform  # (N,)
    zero = torch.zeros((), dtype=loss.dtype, device=loss.device)
    loss = torch.where(keep, loss, zero).sum()
    nll = torch.where(keep, nll, zero).sum()
    n_tokens = keep.sum()
    if reduction == "mean":
        # Like F.cross_entropy: 0/0 = NaN for a batch made only of padding.
        loss, nll = loss / n_tokens, nll / n_tokens
    return LossOutput(loss, nll, n_tokens)
