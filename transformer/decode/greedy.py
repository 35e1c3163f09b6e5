"""Greedy decoding: at every step take the most probable next token (beam
search with K = 1)."""

from __future__ import annotations

import torch
from torch import Tensor

from transformer.build import Model
from transformer.decode.stepper import (
    Hypothesis,
    StepDecoder,
    max_output_lengths,
    step_decoder,
)


def greedy_search(
    decoder: StepDecoder, max_lengths: list[int], bos_id: int, eos_id: int
) -> list[Hypothesis]:
    """Decode every row of ``decoder`` greedily.

    ``max_lengths[b]`` is the most tokens sentence b may produce, EOS included;
    at that step only EOS is allowed, so every hypothesis ends with EOS and its
    ``log_prob`` includes log p(EOS), as in beam search. A sentence that has
    produced EOS leaves the batch (``decoder.reorder`` drops its row, as in
    beam search), and decoding stops when none is left. ``score`` equals
    ``log_prob`` (no length penalty).
    """
    n = len(max_lengths)
    out: list[list[int]] = [[] for _ in range(n)]
    log_probs = [0.0] * n
    live = list(range(n))  # the sentence of each decoder row
    tokens = torch.full((n,), bos_id, dtype=torch.long)
    step = 0
    while live:
        step += 1
        logp = decoder.step(tokens).float()  # (N, V), N = len(live)
        limit = torch.tensor([max_lengths[b] for b in live])
        at_max = (limit <= step).to(logp.device)  # (N,)
        if at_max.any():
            only_eos = torch.full_like(logp, float("-inf"))
            only_eos[:, eos_id] = logp[:, eos_id]
            logp = torch.where(at_max[:, None], only_eos, logp)
        best_logp, best = logp.max(dim=-1)  # (N,), (N,)
        keep = []
        for row, (b, tok, lp) in enumerate(
            zip(live, best.tolist(), best_logp.tolist())
        ):
            log_probs[b] += lp
            if tok != eos_id:
                out[b].append(tok)
                keep.append(row)
        if len(keep) < len(live):
            live = [live[row] for row in keep]
            if live:
                decoder.reorder(torch.tensor(keep))
        tokens = best.cpu()[keep]
    return [Hypothesis(t, lp, lp) for t, lp in zip(out, log_probs)]


@torch.no_grad()
def greedy_decode(
    model: Model,
    src: Tensor,
    *,
    bos_id: int = 1,
    eos_id: int = 2,
    extra_len: int = 50,
) -> list[Hypothesis]:
    """Greedy translations of a batch of source ids (B, S); one
    :class:`Hypothesis` per sentence."""
    if model.training:
        raise ValueError(
            "decode with the model in eval mode (call model.eval()): dropout"
            " would be random"
        )
    decoder = step_decoder(model, src)
    return greedy_search(
        decoder, max_output_lengths(model, src, extra_len), bos_id, eos_id
    )
