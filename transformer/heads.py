"""What trained attention heads do: position statistics of attention maps, and
a one-word role per head.

The paper's appendix (Figures 3-5) shows heads of a trained model that follow
long-distance dependencies, resolve anaphora and "exhibit behaviour related to
the structure of the sentence". This module measures the simplest such
behaviours on ``Transformer.attention_maps`` of many sentences: how much weight
a query puts on its own position, on the previous or the next one, on the
source's last token (EOS), how spread out its weights are, and, for
cross-attention, how monotone the alignment between target and source positions
is.

Maps are for one sentence (batch 1, no padding): ``{"encoder" | "decoder_self"
| "decoder_cross": [per layer (1, h, T_q, T_k)]}``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import torch
from torch import Tensor

KINDS = ("encoder", "decoder_self", "decoder_cross")
STATS = ("same", "previous", "next", "eos", "entropy", "alignment")


def head_statistics(
    maps: dict[str, list[Tensor]],
) -> dict[tuple[str, int, int], dict[str, float]]:
    """Per (kind, layer, head): mean weight on the same position, the previous,
    the next, the last key (EOS), normalised entropy (0 = one key, 1 =
    uniform), and the correlation between query position and the position of
    its largest weight (``alignment``, 1 = monotone)."""
    unknown = sorted(set(maps) - set(KINDS))
    if unknown:
        raise ValueError(
            f"head_statistics reads the encoder-decoder's attention maps"
            f" ({', '.join(KINDS)}), got {', '.join(unknown)}: a decoder-only"
            " model's maps are not supported"
        )
    out: dict[tuple[str, int, int], dict[str, float]] = {}
    for kind in KINDS:
        for layer, weights in enumerate(maps.get(kind, [])):
            w = weights[0].float()  # (h, T_q, T_k)
            h, tq, tk = w.shape
            q = torch.arange(tq)
            for head in range(h):
                a = w[head]
                stats = {"same": 0.0, "previous": 0.0, "next": 0.0}
                # positions of queries and keys are the same sequence
                if kind != "decoder_cross":
                    stats["same"] = a.diagonal().mean().item()
                    stats["previous"] = (
                        a.diagonal(-1).mean().item() if tq > 1 else 0.0
                    )
                    stats["next"] = (
                        a.diagonal(1).mean().item() if tk > 1 else 0.0
                    )
                stats["eos"] = (
                    a[:, -1].mean().item() if kind != "decoder_self" else 0.0
                )
                p = a.clamp_min(1e-12)
                ent = -(p * p.log()).sum(-1)  # (T_q,)
                # the number of keys each query may see: all of them, or
                # (causal) the first i + 1
                visible = (
                    (q + 1).clamp(max=tk)
                    if kind == "decoder_self"
                    else torch.full((tq,), tk)
                )
                norm = torch.where(
                    visible > 1, visible.float().log(), torch.ones(tq)
                )
                stats["entropy"] = (ent / norm).mean().item()
                stats["alignment"] = (
                    _correlation(q.float(), a.argmax(-1).float())
                    if kind == "decoder_cross"
                    else 0.0
                )
                out[(kind, layer, head)] = stats
    return out


def _correlation(x: Tensor, y: Tensor) -> float:
    if len(x) < 2 or y.std() == 0:
        return 0.0
    return torch.corrcoef(torch.stack([x, y]))[0, 1].item()


def head_role(stats: dict[str, float], kind: str) -> str:
    """A one-phrase description of a head from its averaged statistics
    (thresholds chosen by eye)."""
    for key, role in (
        ("previous", "previous token"),
        ("next", "next token"),
        ("same", "same token"),
        ("eos", "end of sentence (EOS)"),
    ):
        if stats[key] > 0.5:
            return role
    if kind == "decoder_cross" and stats["alignment"] > 0.7:
        return "monotone alignment"
    if stats["entropy"] > 0.8:
        return "broad: averages the sentence"
    return "mixed / content"


def summarize_heads(
    per_sentence: Iterable[dict[tuple[str, int, int], dict[str, float]]],
) -> list[dict]:
    """Average :func:`head_statistics` over sentences; one row per head with
    its :func:`head_role`."""
    sums: dict[tuple[str, int, int], dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(STATS, 0.0)
    )
    counts: dict[tuple[str, int, int], int] = defaultdict(int)
    for stats in per_sentence:
        for key, values in stats.items():
            for name, value in values.items():
                if not math.isnan(value):
                    sums[key][name] += value
            counts[key] += 1
    rows = []
    for (kind, layer, head), total in sorted(
        sums.items(),
        key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1], kv[0][2]),
    ):
        mean = {
            name: value / counts[(kind, layer, head)]
            for name, value in total.items()
        }
        rows.append(
            {
                "kind": kind,
                "layer": layer + 1,
                "head": head + 1,
                **mean,
                "role": head_role(mean, kind),
            }
        )
    return rows
