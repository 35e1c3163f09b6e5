"""The training loss: cross-entropy with label smoothing ε_ls = 0.1 (§5.4),
padding ignored.

§5.4 cites Szegedy et al. (2016), "Rethinking the Inception Architecture",
whose smoothed target spreads ε uniformly over all K classes, the true class
included:

    q'(k) = (1 - ε) · δ(k, y) + ε / K

This is exactly what ``F.cross_entropy(..., label_smoothing=ε)`` computes, and
the tests check the two agree. (The Annotated Transformer instead spreads ε
over K - 2 classes, leaving out the true class and padding; fairseq over K - 1.
The differences are O(ε/K) and the paper does not say which it used.)

The loss per token is

    -Σ_k q'(k) log p(k) = (1 - ε) · NLL + ε · mean_k(-log p(k)).

Label smoothing puts a floor under the loss (the entropy of q'), so perplexity
is reported from the plain negative log-likelihood ``nll``, never from the
smoothed loss.

Shapes: N tokens (B·T flattened), V vocabulary size.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.profiler import record_function


class LossOutput(NamedTuple):
    loss: Tensor  # label-smoothed cross-entropy (what is optimised)
    # plain negative log-likelihood of the reference tokens (for perplexity)
    nll: Tensor
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
        logits: (..., V) unnormalised scores; computed in float32 whatever
            their dtype.
        target: (...) reference token ids; positions equal to ``ignore_index``
            do not count.
        smoothing: ε_ls, the probability mass spread uniformly over the
            vocabulary.
        ignore_index: the padding id.
        reduction: "sum" (over tokens; the trainer divides by the tokens of a
            whole optimizer step so that gradient accumulation and data
            parallelism give the same gradient) or "mean".

    Returns:
        ``LossOutput(loss, nll, n_tokens)`` with ``loss`` and ``nll`` reduced
        the same way.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(
            f"label smoothing must lie in [0, 1), got {smoothing!r}"
        )
    if reduction not in ("sum", "mean"):
        raise ValueError(
            f"reduction must be 'sum' or 'mean', got {reduction!r}"
        )
    # (N, V)
    log_probs = torch.log_softmax(logits.float(), dim=-1).flatten(0, -2)
    target = target.reshape(-1)  # (N,)
    keep = target != ignore_index  # (N,)
    safe_target = target.masked_fill(~keep, 0)
    nll = -log_probs.gather(1, safe_target[:, None]).squeeze(1)  # (N,)
    # (N,) cross-entropy against the uniform distribution
    uniform = -log_probs.mean(dim=-1)
    loss = (1.0 - smoothing) * nll + smoothing * uniform  # (N,)
    zero = torch.zeros((), dtype=loss.dtype, device=loss.device)
    loss = torch.where(keep, loss, zero).sum()
    nll = torch.where(keep, nll, zero).sum()
    n_tokens = keep.sum()
    if reduction == "mean":
        # Like F.cross_entropy: 0/0 = NaN for a batch made only of padding.
        loss, nll = loss / n_tokens, nll / n_tokens
    return LossOutput(loss, nll, n_tokens)


def projected_label_smoothed_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    target: Tensor,
    smoothing: float = 0.1,
    ignore_index: int = 0,
    *,
    chunk_tokens: int | None = None,
) -> LossOutput:
    """The pre-softmax projection (§3.4) and
    :func:`label_smoothed_cross_entropy` in one pass, in chunks.

    Equal to ``label_smoothed_cross_entropy(hidden @ weight.T, target,
    smoothing, ignore_index)`` (sum), without ever holding the (N, V) logits:
    padding positions are dropped before the projection, and the remaining rows
    go through in chunks of ``chunk_tokens`` whose logits fit in the CPU's
    cache. Each chunk's gradient is known in closed form as soon as its logits
    are, so it is computed in the forward pass and only the (N, D) and (V, D)
    gradients are kept for backward:

        d loss / d z = softmax(z) - (1 - ε) onehot(y) - ε / V

    (per token, z = its logits).

    Under ``torch.autocast`` the three matmuls (logits, and the two gradients)
    run in the autocast dtype (bf16), the softmax, the loss and the gradient
    accumulation in float32.

    Args:
        hidden: (..., D) decoder states; weight: (V, D) the output projection
            (the tied embedding).
        target: (...) reference ids; ``ignore_index`` positions do not count.
        chunk_tokens: rows per chunk (default on a CPU: about 2^20 / V, a few
            MB of float32 logits; on a GPU 4,096).

    Returns:
        ``LossOutput(loss, nll, n_tokens)``, summed over tokens; ``nll``
        carries no gradient.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(
            f"label smoothing must lie in [0, 1), got {smoothing!r}"
        )
    keep = target.reshape(-1) != ignore_index  # (N,)
    rows = hidden.reshape(-1, hidden.size(-1))[keep]  # (N_real, D)
    labels = target.reshape(-1)[keep]  # (N_real,)
    dtype = (
        torch.get_autocast_dtype(hidden.device.type)
        if torch.is_autocast_enabled(hidden.device.type)
        else None
    )
    # CPU: chunks whose logits fit in cache; GPU: few, large chunks (each chunk
    # is several kernel launches)
    chunk = chunk_tokens or (
        4096
        if hidden.device.type == "cuda"
        else max(16, 2**20 // weight.size(0))
    )
    need_grad = torch.is_grad_enabled() and (
        rows.requires_grad or weight.requires_grad
    )
    loss, nll = _ProjectedCrossEntropy.apply(
        rows, weight, labels, smoothing, chunk, dtype, need_grad
    )
    return LossOutput(loss, nll, keep.sum())


def batch_loss(
    module: torch.nn.Module,
    batch: Any,
    smoothing: float,
    ignore_index: int,
    output_weight: Tensor | None = None,
) -> LossOutput:
    """The label-smoothed loss (§5.4) of a batch (``src``, ``tgt_in``,
    ``tgt_out``) under ``module``: the model, or what wraps it for training
    (DDP, ``torch.compile``). Without ``output_weight`` the module returns
    logits and :func:`label_smoothed_cross_entropy` scores them; with it (the
    model's output projection) the module returns its decoder states and
    :func:`projected_label_smoothed_cross_entropy` fuses the projection into
    the loss."""
    if output_weight is None:
        logits = module(batch.src, batch.tgt_in)  # (B, T, V)
        with record_function("loss"):
            return label_smoothed_cross_entropy(
                logits, batch.tgt_out, smoothing, ignore_index
            )
    hidden = module(batch.src, batch.tgt_in, project=False)  # (B, T, D)
    with record_function("loss"):
        return projected_label_smoothed_cross_entropy(
            hidden, output_weight, batch.tgt_out, smoothing, ignore_index
        )


class _ProjectedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        rows: Tensor,
        weight: Tensor,
        labels: Tensor,
        smoothing: float,
        chunk: int,
        dtype: torch.dtype | None,
        need_grad: bool,
    ) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        compute = dtype or weight.dtype
        w = weight.to(compute)  # (V, D)
        h = rows.to(compute)  # (N, D)
        n, vocab = h.size(0), w.size(0)
        grad_h = (
            torch.empty(n, h.size(1), dtype=torch.float32, device=h.device)
            if need_grad
            else None
        )
        grad_w = (
            torch.zeros(w.shape, dtype=torch.float32, device=h.device)
            if need_grad
            else None
        )
        # bf16 weight-gradient of one chunk, added into the float32 sum without
        # a fresh (V, D) cast each time
        chunk_grad_w = (
            torch.empty(w.shape, dtype=compute, device=h.device)
            if need_grad and compute != torch.float32
            else None
        )
        # mean_k z_k = h . mean_k(w_k): the uniform term without a pass over
        # the logits. (D,) in float32; under bf16 this is the mean of the
        # exact logits, not of the bf16-rounded ones: a difference far below
        # the loss's own rounding
        w_mean = w.mean(dim=0, dtype=torch.float32)
        loss = torch.zeros((), dtype=torch.float32, device=h.device)
        nll = torch.zeros((), dtype=torch.float32, device=h.device)
        for start in range(0, n, chunk):
            end = min(start + chunk, n)
            y = labels[start:end, None]  # (n_c, 1)
            z = (h[start:end] @ w.t()).float()  # (n_c, V) logits
            # one fused kernel; then lse = z_y - log p(y)
            log_p = torch.log_softmax(z, dim=-1)  # (n_c, V)
            token_nll = -log_p.gather(1, y).squeeze(1)  # -log p(y)
            lse = z.gather(1, y).squeeze(1) + token_nll  # (n_c,)
            # -mean_k log p(k) = lse - mean_k z_k
            token_uniform = lse - h[start:end].float() @ w_mean
            loss += (
                (1.0 - smoothing) * token_nll + smoothing * token_uniform
            ).sum()
            nll += token_nll.sum()
            if need_grad:
                # softmax - ε/V, in place
                g = log_p.exp_().sub_(smoothing / vocab)
                # - (1 - ε) onehot(y)
                g.scatter_add_(1, y, g.new_full(y.shape, smoothing - 1.0))
                g = g.to(compute)
                grad_h[start:end] = g @ w  # (n_c, D)
                if compute == torch.float32:
                    grad_w.addmm_(g.t(), h[start:end])  # (V, D)
                else:
                    grad_w += torch.mm(g.t(), h[start:end], out=chunk_grad_w)
        ctx.mark_non_differentiable(nll)
        if need_grad:
            ctx.save_for_backward(grad_h, grad_w)
        ctx.dtypes = (rows.dtype, weight.dtype)
        return loss, nll

    @staticmethod
    def backward(  # type: ignore[override]
        ctx, grad_loss: Tensor, grad_nll: Tensor
    ):
        grad_h, grad_w = ctx.saved_tensors
        rows_dtype, weight_dtype = ctx.dtypes
        return (
            grad_h.mul(grad_loss).to(rows_dtype),
            grad_w.mul(grad_loss).to(weight_dtype),
            None,
            None,
            None,
            None,
            None,
        )
