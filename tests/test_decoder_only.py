"""The decoder-only and prefix-LM models (after the paper): the sequence they
read, their masks, causality, the source prefix's invisibility of the target,
padding invariance, cached decoding = one pass, parameters, checkpoints, and
training through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from transformer import (
    DecoderOnlyTransformer,
    ModelConfig,
    Transformer,
    build_model,
)
from transformer.checkpoint import load_model
from transformer.decode.beam import beam_decode
from transformer.decode.greedy import greedy_decode
from transformer.decode.stepper import max_output_lengths
from transformer.decode.translate import max_source_tokens, too_long, translate
from transformer.decoder_only import (
    left_align,
    sequence_mask,
    token_positions,
)
from transformer.flops import flops_per_target_token
from transformer.train.checkpoint import save_checkpoint
from transformer.train.setup import pair_max_len

ROOT = Path(__file__).resolve().parents[1]
ARCHS = ["decoder_only", "prefix_lm"]
VOCAB = 40

# Right-padded, as a Batch holds them: sources end in EOS (2), targets start
# with BOS (1). Row 0 is shorter on both sides.
SRC = torch.tensor([[5, 6, 7, 2, 0, 0], [8, 9, 10, 11, 12, 2]])
TGT = torch.tensor([[1, 13, 14, 0], [1, 16, 17, 18]])


def _model(arch: str, **overrides: object) -> DecoderOnlyTransformer:
    config = ModelConfig.tiny(
        VOCAB, architecture=arch, dropout=0.0, **overrides
    )
    model = build_model(config)
    assert isinstance(model, DecoderOnlyTransformer)
    return model.eval()


def test_left_align_moves_real_tokens_to_the_end() -> None:
    assert left_align(SRC, 0).tolist() == [
        [0, 0, 5, 6, 7, 2],
        [8, 9, 10, 11, 12, 2],
    ]


def test_positions_count_real_tokens_whatever_the_padding() -> None:
    real = torch.tensor([[0, 0, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]]).bool()
    assert token_positions(real).tolist() == [
        [0, 0, 0, 1, 2, 3, 3],
        [0, 1, 2, 3, 4, 5, 6],
    ]


def test_the_masks_by_hand() -> None:
    """Two source columns (one padding), two target columns."""
    real = torch.tensor([[False, True, True, True]])
    causal = sequence_mask(real)[0, 0].int().tolist()
    prefix = sequence_mask(real, prefix=2)[0, 0].int().tolist()
    assert causal == [
        [0, 0, 0, 0],  # a padding query sees nothing: zero output
        [0, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 1, 1, 1],
    ]
    assert prefix == [
        [0, 1, 0, 0],  # the source column is visible to every query
        [0, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 1, 1, 1],
    ]


@pytest.mark.parametrize("arch", ARCHS)
def test_attention_weights_follow_the_mask(arch: str) -> None:
    model = _model(arch)
    weights = model.attention_maps(SRC, TGT)["self"]
    assert len(weights) == model.config.n_layers
    ids = model.sequence(SRC, TGT)
    allowed = sequence_mask(
        ids != 0, SRC.size(1) if arch == "prefix_lm" else None
    )
    for w in weights:  # (B, h, L, L)
        assert w.shape == (2, 4, 10, 10)
        assert torch.all(w.masked_select(~allowed.expand_as(w)) == 0)
        # every query with a visible key distributes all its attention
        rows = allowed.any(dim=-1).expand(w.shape[:-1])
        torch.testing.assert_close(
            w.sum(dim=-1)[rows], torch.ones(int(rows.sum()))
        )


@pytest.mark.parametrize("arch", ARCHS)
def test_changing_later_target_tokens_leaves_earlier_outputs_unchanged(
    arch: str,
) -> None:
    model = _model(arch)
    changed = TGT.clone()
    changed[:, 2:] = torch.tensor([[20, 0], [21, 22]])
    before, after = model(SRC, TGT), model(SRC, changed)
    torch.testing.assert_close(before[:, :2], after[:, :2])
    assert not torch.allclose(before[1, 2:], after[1, 2:])


@pytest.mark.parametrize("arch", ARCHS)
def test_the_source_never_sees_the_target(arch: str) -> None:
    """The states of the source columns do not depend on the target."""
    model = _model(arch)
    other = torch.tensor([[1, 30, 31, 32], [1, 33, 0, 0]])
    s = SRC.size(1)
    torch.testing.assert_close(
        model.hidden_states(SRC, TGT)[:, :s],
        model.hidden_states(SRC, other)[:, :s],
    )


def test_only_the_prefix_lm_reads_the_source_both_ways() -> None:
    """The first source token's state changes with the last source token in
    a prefix LM (bidirectional), never in a decoder-only model (causal)."""
    changed = SRC.clone()
    changed[1, 4] = 30  # the last word of the second sentence
    for arch, sees_ahead in (("decoder_only", False), ("prefix_lm", True)):
        model = _model(arch)
        first = model.hidden_states(SRC, TGT)[1, 0]
        first_changed = model.hidden_states(changed, TGT)[1, 0]
        assert (not torch.allclose(first, first_changed)) == sees_ahead


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope"])
def test_a_batch_equals_its_sentences_one_at_a_time(
    arch: str, positional: str
) -> None:
    model = _model(arch, positional=positional)
    batch = model(SRC, TGT)
    alone = model(SRC[:1, :4], TGT[:1, :3])
    torch.testing.assert_close(batch[:1, :3], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(
    "variant",
    [
        {"positional": "sinusoidal"},
        {"positional": "learned"},
        {"positional": "rope"},
        # the LLaMA-era block
        {
            "positional": "rope",
            "norm_first": True,
            "norm": "rms",
            "activation": "swiglu",
        },
    ],
    ids=["sinusoidal", "learned", "rope", "modern"],
)
def test_cached_decoding_equals_one_full_pass(
    arch: str, variant: dict
) -> None:
    model = _model(arch, **variant)
    tgt = TGT.clone()
    tgt[0, 3] = 15  # decoding feeds real tokens only
    full = model(SRC, tgt)  # (B, T, V)
    cache = model.prefill(SRC)
    steps = [model.step(tgt[:, t : t + 1], cache) for t in range(4)]
    torch.testing.assert_close(
        torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_search_of_one_without_penalty_is_greedy(arch: str) -> None:
    model = _model(arch)
    greedy = greedy_decode(model, SRC, extra_len=6)
    beam = beam_decode(model, SRC, beam_size=1, alpha=0.0, extra_len=6)
    assert [h.tokens for h in greedy] == [b[0].tokens for b in beam]
    for g, b in zip(greedy, beam):
        assert g.log_prob == pytest.approx(b[0].log_prob, abs=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_hypotheses_score_what_the_full_pass_scores(arch: str) -> None:
    """The log-probability beam search reports for its best hypothesis is the
    one a teacher-forced pass gives the same tokens."""
    model = _model(arch)
    best = beam_decode(model, SRC[1:], beam_size=3, alpha=0.0, extra_len=5)
    hyp = best[0][0]
    tgt = torch.tensor([[1, *hyp.tokens]])
    out = torch.tensor([[*hyp.tokens, 2]])
    with torch.no_grad():
        logits = model(SRC[1:], tgt)
    logp = logits.log_softmax(-1).gather(2, out[..., None])
    assert hyp.log_prob == pytest.approx(float(logp.sum()), abs=1e-4)


def _layer_params(d: int, f: int) -> int:
    """Self-attention (4 d x d matrices + biases), FFN (2 matrices +
    biases), two LayerNorms."""
    return 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d


def test_parameters_and_the_equal_size_encoder_decoder() -> None:
    """N decoder-only layers are N encoder layers; at d_ff = 4 d_model an
    encoder-decoder of N + N layers has the matrices of 7N/3 of them."""
    d, f, v = 64, 256, VOCAB
    model = _model("decoder_only", n_layers=7, d_ff=f)
    assert model.num_parameters() == v * d + 7 * _layer_params(d, f)
    learned = _model("prefix_lm", positional="learned", n_layers=1, d_ff=f)
    assert learned.num_parameters() == (v * d + _layer_params(d, f) + 256 * d)
    enc_dec = Transformer(ModelConfig.tiny(v, n_layers=3, d_ff=f))
    matrices = enc_dec.num_parameters() - v * d
    assert model.num_parameters() - v * d == pytest.approx(matrices, rel=0.01)


def test_flops_count_the_source_columns_as_the_model_attends_them() -> None:
    """Per target token: every layer's matrices run on the source columns too
    (S/T times), and attention is over the whole sequence."""
    d, f, n, s, t = 64, 256, 2, 10.0, 5.0
    dec = ModelConfig.tiny(VOCAB, architecture="decoder_only", d_ff=f)
    pre = ModelConfig.tiny(VOCAB, architecture="prefix_lm", d_ff=f)
    matrices = n * (4 * d * d + 2 * d * f) * (s + t) / t + d * VOCAB
    causal = 2 * n * d * (s + t) ** 2 / 2 / t
    prefix = 2 * n * d * (s * s + t * s + t * t / 2) / t
    assert flops_per_target_token(dec, s, t) == pytest.approx(
        6 * matrices + 6 * causal
    )
    assert flops_per_target_token(pre, s, t) == pytest.approx(
        6 * matrices + 6 * prefix
    )


def test_one_vocabulary_is_required() -> None:
    with pytest.raises(ValueError, match="one shared vocabulary"):
        ModelConfig.tiny(
            VOCAB,
            tgt_vocab_size=50,
            share_embeddings=False,
            architecture="decoder_only",
        )
    with pytest.raises(ValueError, match="architecture must be one of"):
        ModelConfig.tiny(VOCAB, architecture="encoder_only")


def test_each_class_refuses_the_other_architecture() -> None:
    decoder_only = ModelConfig.tiny(VOCAB, architecture="decoder_only")
    with pytest.raises(ValueError, match="build_model"):
        Transformer(decoder_only)
    with pytest.raises(ValueError, match="build_model"):
        DecoderOnlyTransformer(ModelConfig.tiny(VOCAB))
    assert isinstance(build_model(ModelConfig.tiny(VOCAB)), Transformer)


def test_the_positions_of_source_and_target_share_the_table() -> None:
    model = _model("decoder_only", max_len=10)
    model(SRC, TGT)  # 6 + 4 positions: exactly the table
    longer = torch.cat([TGT, torch.tensor([[19], [19]])], dim=1)
    with pytest.raises(ValueError, match="spends positions on the source"):
        model(SRC, longer)  # 6 + 5 > 10
    # decoding stops before the table ends: 6 source tokens leave 4
    assert max_output_lengths(model, SRC[1:], extra=50) == [4]
    hyps = greedy_decode(model, SRC[1:], extra_len=50)
    assert len(hyps[0].tokens) + 1 <= 4


@pytest.mark.parametrize("decode", ["greedy", "beam"])
def test_a_batch_of_unequal_sources_near_the_table_end_decodes(
    decode: str,
) -> None:
    """Each sentence stops at its own limit; a short one going on never pushes
    a long one past the positional table."""
    model = _model("decoder_only", max_len=16)
    src = torch.zeros(2, 12, dtype=torch.long)
    src[0] = torch.arange(5, 17)
    src[0, -1] = 2  # 11 tokens + EOS: 4 output positions left
    src[1, :3] = torch.tensor([5, 6, 2])  # 2 tokens + EOS: 13 left
    assert max_output_lengths(model, src, extra=50) == [4, 13]
    if decode == "greedy":
        hyps = [h.tokens for h in greedy_decode(model, src)]
        alone = [
            greedy_decode(model, src[i : i + 1])[0].tokens for i in (0, 1)
        ]
    else:
        hyps = [b[0].tokens for b in beam_decode(model, src, beam_size=3)]
        alone = [
            beam_decode(model, src[i : i + 1, : (12, 3)[i]], beam_size=3)[0][
                0
            ].tokens
            for i in (0, 1)
        ]
    assert len(hyps[0]) <= 3 and len(hyps[1]) <= 12
    assert hyps == alone


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_search_of_a_batch_equals_each_sentence_alone(arch: str) -> None:
    """Beams are repeated, reordered and dropped in the cache (keys, values,
    real-token flags, positions): the batch gives each sentence's own
    result."""
    model = _model(arch)
    batch = beam_decode(model, SRC, beam_size=3, extra_len=6)
    for i, width in ((0, 4), (1, 6)):
        (alone,) = beam_decode(
            model, SRC[i : i + 1, :width], beam_size=3, extra_len=6
        )
        assert [h.tokens for h in batch[i]] == [h.tokens for h in alone]
        for a, b in zip(batch[i], alone):
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_translate_cuts_a_long_source_to_half_the_table() -> None:
    class Words:
        pad_id, bos_id, eos_id = 0, 1, 2

        def encode(self, text: str) -> list[int]:
            return [5 + int(w) for w in text.split()]

        def decode(self, ids: list[int]) -> str:
            return " ".join(str(i - 5) for i in ids)

    model = _model("prefix_lm", max_len=16)
    assert max_source_tokens(model) == 7
    long = " ".join(str(i % 30) for i in range(40))
    assert too_long(model, Words(), [long, "1 2"]) == [(0, 40)]
    out = translate(model, Words(), [long, "1 2"], beam_size=2)
    assert len(out) == 2  # translated, cut, not refused
    assert max_source_tokens(Transformer(ModelConfig.tiny(40))) == 255


def test_training_pairs_fit_the_shared_table() -> None:
    one_stack = ModelConfig.tiny(VOCAB, architecture="decoder_only")
    assert pair_max_len(None, one_stack) == 128  # half of max_len 256
    assert pair_max_len(100, one_stack) == 100
    with pytest.raises(ValueError, match="set data.max_len <= 128"):
        pair_max_len(200, one_stack)
    assert pair_max_len(None, ModelConfig.tiny(VOCAB)) == 256


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope"])
def test_a_checkpoint_loads_back_as_the_same_model(
    arch: str, positional: str, tmp_path: Path
) -> None:
    model = _model(arch, positional=positional)
    save_checkpoint(tmp_path / "ckpt", model, save_rng=False)
    loaded = load_model(tmp_path / "ckpt")
    assert isinstance(loaded, DecoderOnlyTransformer)
    assert loaded.config == model.config
    torch.testing.assert_close(loaded(SRC, TGT), model(SRC, TGT))


@pytest.mark.parametrize("arch", ARCHS)
def test_the_number_task_trains_through_the_cli(
    arch: str, tmp_path: Path
) -> None:
    """``python -m transformer train`` with ``model.architecture``, then
    evaluate and translate from the checkpoint: held-out numbers right."""

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "transformer", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    run(
        "train",
        str(ROOT / "configs" / "numbers-cpu.toml"),
        "--out-dir",
        str(tmp_path),
        "--no-progress",
        "--set",
        f'model.architecture="{arch}"',
        "--set",
        "model.n_layers=3",
    )
    run_json = json.loads((tmp_path / "run.json").read_text())
    assert run_json["config"]["model"]["architecture"] == arch
    scores = json.loads(
        run("evaluate", "--model", str(tmp_path), "--split", "test", "--json")
    )
    assert scores["exact_match"] >= 0.9, scores
    out = run("translate", "--model", str(tmp_path), "forty five", "eight")
    assert out.splitlines() == ["fünf und vierzig", "acht"]


def test_head_statistics_refuse_a_decoder_only_models_maps() -> None:
    from transformer.heads import head_statistics

    maps = _model("decoder_only").attention_maps(SRC[:1], TGT[:1])
    with pytest.raises(ValueError, match="decoder-only"):
        head_statistics(maps)
