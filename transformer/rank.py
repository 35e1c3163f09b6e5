"""The rank argument for causal attention (after the paper), measured on
trained models.

A causal attention matrix A (row i a softmax over keys j <= i) is
lower-triangular, and every softmax weight is positive, so its diagonal is
positive and det A = prod_i A_ii > 0: it has full rank whatever the scores. A
bidirectional attention matrix has no such guarantee: when the queries of a
sentence attend alike, its rows are nearly equal and it is close to rank one.
This module measures both on the attention matrices of a model, one sentence
at a time (no padding), every layer and head:

* the **numerical rank**: singular values above ``rtol`` x the largest (by
  default L x float32's epsilon: the rank the model's arithmetic can see);
* the **effective rank** (Roy and Vetterli, 2007): exp of the entropy of the
  normalised singular values, a smooth count of the directions that matter;

both as a fraction of the sentence length, and the spectrum itself (singular
values / the largest, at ten evenly spaced relative positions).

Shapes: L sentence length (real tokens), h heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from transformer.build import Model
from transformer.decoder_only import DecoderOnlyTransformer

BINS = 10  # points of the stored spectrum


def numerical_rank(singular: Tensor, rtol: float | None = None) -> Tensor:
    """(..., L) singular values, largest first -> (...) the number above
    ``rtol`` x the largest; by default ``rtol`` = L x float32's machine
    epsilon, the precision attention is computed in (the rule of
    ``torch.linalg.matrix_rank``)."""
    if rtol is None:
        rtol = singular.size(-1) * torch.finfo(torch.float32).eps
    return (singular > rtol * singular[..., :1]).sum(dim=-1)


def effective_rank(singular: Tensor) -> Tensor:
    """(..., L) singular values -> (...) exp(entropy of σ / Σσ)."""
    p = singular / singular.sum(dim=-1, keepdim=True)
    entropy = -(p * p.clamp_min(1e-30).log()).sum(dim=-1)
    return entropy.exp()


def spectrum_bins(singular: Tensor, bins: int = BINS) -> Tensor:
    """(..., L) singular values -> (..., bins) σ / σ_max read at relative
    positions 0, 1/(bins - 1), ..., 1 of the spectrum."""
    length = singular.size(-1)
    index = torch.linspace(0, length - 1, bins).round().long()
    return (singular / singular[..., :1])[..., index]


def _matrices(model: Model, src: Tensor, tgt: Tensor) -> dict[str, Tensor]:
    """One sentence's attention matrices by kind, each (layers·h, L, L)."""
    maps = model.attention_maps(src, tgt)
    if isinstance(model, DecoderOnlyTransformer):
        a = torch.cat([w[0] for w in maps["self"]])  # (layers·h, S+T, S+T)
        if model.config.architecture != "prefix_lm":
            return {"decoder-only self-attention": a}
        # The source rows attend only to the source, so a prefix LM's matrix
        # is block lower-triangular, [[A_ss, 0], [A_ts, A_tt]] with A_tt
        # causal: det A = det A_ss · prod diag A_tt, so in exact arithmetic A
        # has full rank exactly when its bidirectional source block A_ss has
        # (numerically, the target rows lose rank too). A_ss is measured too.
        s = src.size(1)
        return {
            "prefix-LM self-attention": a,
            "prefix-LM source block": a[:, :s, :s],  # (layers·h, S, S)
        }
    return {
        "encoder self-attention": torch.cat([w[0] for w in maps["encoder"]]),
        "decoder self-attention": torch.cat(
            [w[0] for w in maps["decoder_self"]]
        ),
    }


@dataclass
class _Sums:
    matrices: int = 0
    rank_fraction: float = 0.0
    effective_rank_fraction: float = 0.0
    full_rank: float = 0.0
    length: float = 0.0
    spectrum: Tensor = field(
        default_factory=lambda: torch.zeros(BINS, dtype=torch.float64)
    )

    def add(self, a: Tensor, rtol: float | None) -> None:
        """(n, L, L) attention matrices of one sentence."""
        s = torch.linalg.svdvals(a.double()).cpu()  # (n, L), largest first
        n, length = a.size(0), a.size(-1)
        rank = numerical_rank(s, rtol).double()
        self.matrices += n
        self.rank_fraction += float((rank / length).sum())
        self.effective_rank_fraction += float(
            (effective_rank(s) / length).sum()
        )
        self.full_rank += float((rank == length).sum())
        self.length += float(length * n)
        self.spectrum += spectrum_bins(s).sum(dim=0)

    def means(self, rtol: float | None) -> dict[str, object]:
        n = self.matrices
        return {
            "matrices": n,
            "rank_fraction": self.rank_fraction / n,
            "effective_rank_fraction": self.effective_rank_fraction / n,
            "full_rank_share": self.full_rank / n,
            "spectrum": (self.spectrum / n).tolist(),
            "length": self.length / n,
            "rtol": rtol,
        }


@torch.no_grad()
def attention_spectra(
    model: Model,
    pairs: Sequence[tuple[list[int], list[int]]],
    rtol: float | None = None,
) -> dict[str, dict[str, object]]:
    """Rank statistics of the attention matrices of ``model`` (eval mode) on
    ``pairs`` of (source ids + EOS, BOS + target ids), one at a time.

    Returns, per kind of attention: ``matrices`` counted, the mean
    ``rank_fraction`` (numerical rank / L) and ``effective_rank_fraction``,
    the ``full_rank_share`` of matrices, the mean ``spectrum`` (σ / σ_max at
    ``BINS`` relative positions) and the mean ``length``.
    """
    if model.training:
        raise ValueError("measure attention with the model in eval mode")
    device = next(model.parameters()).device
    sums: dict[str, _Sums] = {}
    for src_ids, tgt_ids in pairs:
        src = torch.tensor([src_ids], device=device)
        tgt = torch.tensor([tgt_ids], device=device)
        for kind, a in _matrices(model, src, tgt).items():
            sums.setdefault(kind, _Sums()).add(a, rtol)
    return {kind: row.means(rtol) for kind, row in sums.items()}
