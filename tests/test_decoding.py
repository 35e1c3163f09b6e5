"""Greedy and beam search (§6.1) on a fake decoder with hand-computed answers,
and on a real tiny model."""

from __future__ import annotations

import math

import pytest
import torch

from transformer import ModelConfig, Transformer
from transformer.decode import (
    Hypothesis,
    beam_decode,
    beam_search,
    greedy_decode,
    greedy_search,
    length_penalty,
    translate,
)

PAD, BOS, EOS, A, B = 0, 1, 2, 3, 4
V = 5


class TreeDecoder:
    """A fake :class:`StepDecoder`: fixed next-token probabilities for each
    prefix of each sentence.

    ``tables[s][prefix] = {token: probability}``; an unlisted prefix may only
    end (EOS). It keeps the prefix of every row itself, so a wrong ``reorder``
    gives wrong probabilities.
    """

    def __init__(self, tables: list[dict], rows_per_sentence: int) -> None:
        self.tables = tables
        self.rows = [
            (s, None)
            for s in range(len(tables))
            for _ in range(rows_per_sentence)
        ]
        self.row_counts: list[int] = []

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        assert tokens.shape == (len(self.rows),)
        new_rows = []
        for (s, prefix), t in zip(self.rows, tokens.tolist()):
            if prefix is None:
                assert t == BOS
                new_rows.append((s, ()))
            else:
                new_rows.append((s, prefix + (t,)))
        self.rows = new_rows
        self.row_counts.append(len(self.rows))
        probs = torch.zeros(len(self.rows), V)
        for i, (s, prefix) in enumerate(self.rows):
            for token, p in self.tables[s].get(prefix, {EOS: 1.0}).items():
                probs[i, token] = p
        return probs.log()

    def reorder(self, index: torch.Tensor) -> None:
        self.rows = [self.rows[i] for i in index.tolist()]


# Greedy takes A (.6) then EOS (.4 > .35): p = .24. Beam 2 also keeps B (.4),
# whose EOS gives .36.
T1 = {
    (): {A: 0.6, B: 0.4},
    (A,): {EOS: 0.4, A: 0.35, B: 0.25},
    (B,): {EOS: 0.9, A: 0.06, B: 0.04},
}
# "B" (p = .36, |Y| = 2) against "A A" (p = .6 * .8 * .71 = .3408, |Y| = 3):
# without length penalty B wins; with α = 0.6 the longer one wins:
# log(.3408)/(8/6)^.6 = -0.9059 > log(.36)/(7/6)^.6 = -0.9314.
T2 = {
    (): {A: 0.6, B: 0.4},
    (A,): {EOS: 0.09, A: 0.8, B: 0.11},
    (B,): {EOS: 0.9, A: 0.06, B: 0.04},
    (A, A): {EOS: 0.71, A: 0.19, B: 0.10},
    (A, B): {EOS: 0.5, A: 0.3, B: 0.2},
}


def lp(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha


def run_beam(
    tables: list[dict],
    k: int,
    alpha: float,
    max_lengths: list[int] | None = None,
):
    decoder = TreeDecoder(tables, k)
    max_lengths = max_lengths or [50] * len(tables)
    return (
        beam_search(
            decoder,
            max_lengths,
            beam_size=k,
            alpha=alpha,
            bos_id=BOS,
            eos_id=EOS,
        ),
        decoder,
    )


def assert_hyps(
    got: list[Hypothesis], expected: list[tuple[list[int], float, float]]
) -> None:
    assert [h.tokens for h in got] == [e[0] for e in expected]
    for h, (_, log_prob, score) in zip(got, expected):
        assert h.log_prob == pytest.approx(log_prob, rel=1e-6)
        assert h.score == pytest.approx(score, rel=1e-6)


def test_length_penalty_is_the_gnmt_formula() -> None:
    assert length_penalty(1, 0.6) == 1.0
    assert length_penalty(7, 0.6) == pytest.approx(2.0**0.6)
    assert length_penalty(30, 0.0) == 1.0


def test_negative_length_penalty_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        run_beam([T1], k=2, alpha=-0.5)


def test_beam_finds_what_greedy_misses() -> None:
    (hyps,), decoder = run_beam([T1], k=2, alpha=0.0)
    # Step 2 ranks B·EOS .36, A·EOS .24, A·A .21, A·B .15: both EOS are in the
    # top 2 and finish; the best live beam (.21) cannot beat the 2nd finished
    # (.24), so search stops.
    assert_hyps(
        hyps,
        [
            ([B], math.log(0.36), math.log(0.36)),
            ([A], math.log(0.24), math.log(0.24)),
        ],
    )
    assert len(decoder.row_counts) == 2
    (greedy,) = greedy_search(TreeDecoder([T1], 1), [50], BOS, EOS)
    assert greedy.tokens == [A] and greedy.log_prob == pytest.approx(
        math.log(0.24), rel=1e-6
    )


def test_with_length_penalty_search_goes_on_while_a_live_beam_could_still_win() -> (
    None
):
    (hyps,), decoder = run_beam([T1], k=2, alpha=0.6)
    # After step 2 the live A·A (.21) could still score up to log(.21)/lp(50) =
    # -0.41 > log(.24)/lp(2) = -1.30, so step 3 runs; there A·A·EOS scores
    # log(.21)/lp(3) = -1.313 < -1.301: no change.
    assert_hyps(
        hyps,
        [
            ([B], math.log(0.36), math.log(0.36) / lp(2, 0.6)),
            ([A], math.log(0.24), math.log(0.24) / lp(2, 0.6)),
        ],
    )
    assert len(decoder.row_counts) == 3


def test_length_penalty_changes_the_winner() -> None:
    long_lp, short_lp = math.log(0.6 * 0.8 * 0.71), math.log(0.36)
    (plain,), decoder = run_beam([T2], k=2, alpha=0.0)
    # Step 2: A·A .48 (live), B·EOS .36 (finished), A·B .066 (live), A·EOS .054
    # (rank 4: not finished). Step 3: A·A·EOS .3408 finishes the second
    # hypothesis; the best live beam (.0912) cannot beat it.
    assert_hyps(plain, [([B], short_lp, short_lp), ([A, A], long_lp, long_lp)])
    assert decoder.row_counts == [2, 2, 2]
    (penalised,), decoder = run_beam([T2], k=2, alpha=0.6)
    assert_hyps(
        penalised,
        [
            ([A, A], long_lp, long_lp / lp(3, 0.6)),
            ([B], short_lp, short_lp / lp(2, 0.6)),
        ],
    )
    # A·A·A (.0912) could still reach -0.633 > -0.931 after step 3
    assert len(decoder.row_counts) == 4


# A confident long hypothesis (A A A, p = .9 * .9 * .9 * .9 = .6561) and
# unlikely short ones that end first: B·EOS (.09) at step 2 and A·A·EOS (.0486)
# at step 3. "Stop once K have finished" would stop after step 3 and return B;
# the bound keeps going because A·A·A (.729) can still win.
T3 = {
    (): {A: 0.9, B: 0.1},
    (A,): {A: 0.9, EOS: 0.06, B: 0.04},
    (B,): {EOS: 0.9, A: 0.05, B: 0.05},
    (A, A): {A: 0.9, EOS: 0.06, B: 0.04},
    (A, A, A): {EOS: 0.9, A: 0.06, B: 0.04},
}


def test_early_stopping_does_not_return_unlikely_hypotheses_that_finished_first() -> (
    None
):
    (hyps,), decoder = run_beam([T3], k=2, alpha=0.0)
    best = math.log(0.9**4)
    assert_hyps(
        hyps, [([A, A, A], best, best), ([B], math.log(0.09), math.log(0.09))]
    )
    # step 4: the live A·A·A·A (.0437) cannot beat B (.09)
    assert len(decoder.row_counts) == 4
    (greedy,) = greedy_search(TreeDecoder([T3], 1), [50], BOS, EOS)
    assert greedy.tokens == [A, A, A]


@pytest.mark.parametrize("tables", [[T1], [T2], [T3]])
def test_beam_size_one_equals_greedy_on_fake(tables: list[dict]) -> None:
    (beam,), _ = run_beam(tables, k=1, alpha=0.0)
    (greedy,) = greedy_search(TreeDecoder(tables, 1), [50], BOS, EOS)
    assert beam[0].tokens == greedy.tokens
    assert beam[0].log_prob == pytest.approx(greedy.log_prob, rel=1e-6)


def test_batched_fake_equals_one_at_a_time_and_finished_sentences_leave() -> (
    None
):
    tables, max_lengths = [T1, T2, T2], [50, 50, 2]
    batched, decoder = run_beam(
        tables, k=2, alpha=0.6, max_lengths=max_lengths
    )
    for table, max_len, got in zip(tables, max_lengths, batched):
        (alone,), _ = run_beam([table], k=2, alpha=0.6, max_lengths=[max_len])
        assert [(h.tokens, h.score) for h in got] == [
            (h.tokens, h.score) for h in alone
        ]
    # Sentence 2 ends at step 2 (its maximum length), sentence 0 at step 3:
    # their rows are dropped.
    assert decoder.row_counts == [6, 6, 4, 2]


# -- a real tiny model --------------------------------------------------------
VOCAB = 20


def tiny_model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.tiny(vocab_size=VOCAB)).eval()


def sources() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, VOCAB, (4, 7), generator=g)
    for row, n in enumerate([7, 3, 5, 1]):
        src[row, n - 1] = EOS
        src[row, n:] = PAD
    return src


def naive_greedy(
    model: Transformer, src: torch.Tensor, max_len: int
) -> list[int]:
    """Greedy decoding without a cache: a full teacher-forced pass over the
    prefix at every step."""
    tgt = torch.tensor([[BOS]])
    for _ in range(max_len):
        nxt = int(model(src, tgt)[0, -1].argmax())
        if nxt == EOS:
            break
        tgt = torch.cat([tgt, torch.tensor([[nxt]])], dim=1)
    return tgt[0, 1:].tolist()


def test_cached_greedy_equals_uncached_greedy() -> None:
    model, src = tiny_model(), sources()
    got = greedy_decode(model, src, bos_id=BOS, eos_id=EOS, extra_len=8)
    for row, hyp in enumerate(got):
        n = int((src[row] != PAD).sum())
        assert hyp.tokens == naive_greedy(
            model, src[row : row + 1, :n], n + 8 - 1
        )


def test_real_model_beam_one_equals_greedy_and_batch_equals_single() -> None:
    model, src = tiny_model(), sources()
    greedy = greedy_decode(model, src, bos_id=BOS, eos_id=EOS, extra_len=8)
    beam1 = beam_decode(
        model, src, beam_size=1, alpha=0.0, bos_id=BOS, eos_id=EOS, extra_len=8
    )
    assert [h[0].tokens for h in beam1] == [h.tokens for h in greedy]
    torch.testing.assert_close(
        torch.tensor([h[0].log_prob for h in beam1]),
        torch.tensor([h.log_prob for h in greedy]),
    )
    batched = beam_decode(
        model, src, beam_size=4, alpha=0.6, bos_id=BOS, eos_id=EOS, extra_len=8
    )
    for row, hyps in enumerate(batched):
        n = int((src[row] != PAD).sum())
        (alone,) = beam_decode(
            model,
            src[row : row + 1, :n],
            beam_size=4,
            alpha=0.6,
            bos_id=BOS,
            eos_id=EOS,
            extra_len=8,
        )
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]
        torch.testing.assert_close(
            torch.tensor([h.score for h in hyps]),
            torch.tensor([h.score for h in alone]),
        )
        # maximum length: input length + extra
        assert all(len(h.tokens) + 1 <= n + 8 for h in hyps)
        assert hyps[0].score >= max(h.score for h in hyps)


def test_decoding_refuses_training_mode() -> None:
    model = tiny_model().train()
    with pytest.raises(ValueError, match="eval mode"):
        greedy_decode(model, sources())


class CharTokenizer:
    """Characters 'a'..'p' are ids 4..19; enough for ``translate``'s
    plumbing."""

    pad_id, bos_id, eos_id = PAD, BOS, EOS

    def encode(self, text: str) -> list[int]:
        return [4 + ord(c) - ord("a") for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(ord("a") + i - 4) for i in ids if i >= 4)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_translate_keeps_input_order_across_batches(beam_size: int) -> None:
    model, tok = tiny_model(), CharTokenizer()
    sentences = ["abcdef", "p", "hello", "ab", "mnop"]
    together = translate(
        model, tok, sentences, beam_size=beam_size, extra_len=5, batch_size=2
    )
    alone = [
        translate(model, tok, [s], beam_size=beam_size, extra_len=5)[0]
        for s in sentences
    ]
    assert together == alone
    assert all(isinstance(s, str) for s in together)
