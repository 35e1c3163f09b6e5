"""Batched beam search with length penalty (§6.1: beam size 4, α = 0.6).

The score of a finished hypothesis Y is  log p(Y | X) / lp(Y)  with the GNMT
length penalty (Wu et al., 2016) that the paper cites:

    lp(Y) = ((5 + |Y|) / 6) ^ α   (α = 0: no penalty, plain log-probability)

|Y| counts the generated tokens including EOS, as in tensor2tensor (the paper's
code) and fairseq.

The algorithm, for every sentence at every step (live beams and finished
hypotheses kept apart, as in tensor2tensor, the paper's code, and fairseq):

1. Each of the K live beams proposes all V extensions, scored by cumulative
   log-probability.
2. Of the 2K best of the K·V candidates, an EOS candidate among the first K
   finishes a hypothesis (the K best finished are kept, ranked by
   length-normalised score); the K best candidates that do not end in EOS
   become the next live beams (2K candidates always hold K of them: each beam
   has only one EOS extension). With K = 1 this is exactly greedy decoding when
   α = 0.
3. The sentence stops early when no live beam can still beat the K-th best
   finished hypothesis: a live beam's log-probability L can only fall and
   lp(|Y|) is at most lp(maximum length), so its final score is at most L /
   lp(maximum length) (tensor2tensor's bound). It also stops when every beam
   has ended, and at its maximum length ("input length + 50", §6.1), where only
   EOS is allowed. Finished sentences leave the batch (``decoder.reorder``
   drops their rows); decoding ends when every sentence has stopped.

Step 3's bound matters. The shortcut "stop as soon as K hypotheses have
finished" (fairseq's and Hugging Face's default) fails on confident models: the
K - 1 unlikely beams end one after another while the likely one is still going,
and search returns an unlikely hypothesis (a test shows it).

At the first step only beam 0 is live (the others start at -inf), so the K
beams never duplicate.
"""

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

NEG_INF = float("-inf")


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty lp(Y) = ((5 + |Y|) / 6)^α."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(
    decoder: StepDecoder,
    max_lengths: list[int],
    *,
    beam_size: int = 4,
    alpha: float = 0.6,
    bos_id: int = 1,
    eos_id: int = 2,
) -> list[list[Hypothesis]]:
    """Beam search over the rows of ``decoder``, which must hold ``beam_size``
    rows per sentence (row b·K + k is beam k of sentence b).

    Args:
        max_lengths: per sentence, the most tokens it may produce, EOS
            included.
    Returns:
        per sentence, its K best finished hypotheses (fewer if fewer ended),
        best first.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if alpha < 0:
        # The early-stopping bound divides by lp(max length), the largest
        # penalty only when alpha >= 0.
        raise ValueError(
            "length penalty alpha must be >= 0 (the paper: 0.6, §6.1), got"
            f" {alpha}"
        )
    k = beam_size
    # sentences still decoding, in row-block order
    active = list(range(len(max_lengths)))
    # generated tokens of each row
    prefixes: list[list[int]] = [[] for _ in range(len(active) * k)]
    # (A, K) cumulative log-probabilities
    scores = torch.full((len(active), k), NEG_INF)
    scores[:, 0] = 0.0
    last = torch.full((len(active) * k,), bos_id, dtype=torch.long)  # (A·K,)
    finished: list[list[Hypothesis]] = [[] for _ in max_lengths]
    step = 0
    while active:
        step += 1
        logp = decoder.step(last).float()  # (A·K, V), on the model's device
        vocab = logp.size(-1)
        scores = scores.to(logp.device)
        at_max = torch.tensor(
            [max_lengths[b] <= step for b in active], device=logp.device
        )
        at_max = at_max.repeat_interleave(k)  # (A·K,)
        if at_max.any():  # only EOS may follow at the maximum length
            only_eos = torch.full_like(logp, NEG_INF)
            only_eos[:, eos_id] = logp[:, eos_id]
            logp = torch.where(at_max[:, None], only_eos, logp)
        # (A, K·V)
        candidates = (scores.reshape(-1, 1) + logp).view(
            len(active), k * vocab
        )
        # (A, 2K)
        top_scores, top_index = candidates.topk(min(2 * k, k * vocab), dim=1)
        # only 2K numbers per sentence leave the device
        top_scores, top_index = top_scores.cpu(), top_index.cpu()
        rows: list[int] = []
        tokens: list[int] = []
        new_scores: list[float] = []
        still: list[int] = []
        for a, b in enumerate(active):
            # (parent row, token, score), best first
            live: list[tuple[int, int, float]] = []
            for rank, (score, index) in enumerate(
                zip(top_scores[a].tolist(), top_index[a].tolist())
            ):
                if score == NEG_INF:
                    break
                beam, token = divmod(index, vocab)
                row = a * k + beam
                if token == eos_id:
                    if rank >= k:
                        # an EOS outside the K best does not finish a
                        # hypothesis
                        continue
                    length = len(prefixes[row]) + 1
                    finished[b].append(
                        Hypothesis(
                            list(prefixes[row]),
                            score,
                            score / length_penalty(length, alpha),
                        )
                    )
                elif len(live) < k:
                    live.append((row, token, score))
            finished[b] = sorted(
                finished[b], key=lambda h: h.score, reverse=True
            )[:k]
            if step >= max_lengths[b] or not live:
                continue
            best_possible = live[0][2] / length_penalty(max_lengths[b], alpha)
            if (
                len(finished[b]) >= k
                and best_possible <= finished[b][-1].score
            ):
                continue  # no live beam can still enter the K best: stop early
            # dead fillers keep K rows
            live += [(live[0][0], live[0][1], NEG_INF)] * (k - len(live))
            still.append(b)
            for row, token, score in live:
                rows.append(row)
                tokens.append(token)
                new_scores.append(score)
        if not still:
            break
        index = torch.tensor(rows)
        decoder.reorder(index)
        prefixes = [prefixes[r] + [t] for r, t in zip(rows, tokens)]
        last = torch.tensor(tokens)
        scores = torch.tensor(new_scores).view(len(still), k)
        active = still
    return finished


@torch.no_grad()
def beam_decode(
    model: Model,
    src: Tensor,
    *,
    beam_size: int = 4,
    alpha: float = 0.6,
    bos_id: int = 1,
    eos_id: int = 2,
    extra_len: int = 50,
) -> list[list[Hypothesis]]:
    """Beam-search translations of source ids (B, S): per sentence, hypotheses
    best first."""
    if model.training:
        raise ValueError(
            "decode with the model in eval mode (call model.eval()): dropout"
            " would be random"
        )
    decoder = step_decoder(model, src, repeat=beam_size)
    return beam_search(
        decoder,
        max_output_lengths(model, src, extra_len),
        beam_size=beam_size,
        alpha=alpha,
        bos_id=bos_id,
        eos_id=eos_id,
    )
