"""The shared BPE / word-level tokenizer (§5.1) and encode_pairs' filtering, on
small corpora."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from transformer.data import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Tokenizer,
    encode_pairs,
    load_multi30k,
    number_task,
    train_tokenizer_for,
)

TRAIN = [
    ("Ein Mann fährt Fahrrad.", "A man rides a bike."),
    ("Zwei Hunde spielen im Schnee.", "Two dogs play in the snow."),
    ("Eine Frau mit einem roten Hut läuft.", "A woman with a red hat walks."),
    ("Kinder spielen auf der Straße.", "Children play on the street."),
] * 5


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    return train_tokenizer_for(TRAIN, vocab_size=200)


def test_special_ids_are_fixed(bpe: Tokenizer) -> None:
    assert (
        (bpe.pad_id, bpe.bos_id, bpe.eos_id, bpe.unk_id)
        == (0, 1, 2, 3)
        == (PAD_ID, BOS_ID, EOS_ID, UNK_ID)
    )
    assert [bpe.id_to_token(i) for i in range(4)] == [
        "<pad>",
        "<s>",
        "</s>",
        "<unk>",
    ]


def test_vocab_is_shared_and_bounded(bpe: Tokenizer) -> None:
    assert bpe.vocab_size <= 200
    # both languages
    assert bpe.tokens("Schnee.") == ["▁Schnee."] and bpe.tokens("snow.") == [
        "▁snow."
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Ein Mann fährt Fahrrad.",
        "A  man.  Two   dogs",
        "Kinder spielen.  ",
        "Hut Hund Hut",
        "",
        "Straße",
    ],
)
def test_round_trip(bpe: Tokenizer, text: str) -> None:
    assert bpe.decode(bpe.encode(text)) == text


def test_encode_adds_no_specials_and_decode_drops_them(bpe: Tokenizer) -> None:
    ids = bpe.encode("Ein Mann")
    assert not set(ids) & {PAD_ID, BOS_ID, EOS_ID}
    assert bpe.decode([BOS_ID, *ids, EOS_ID, PAD_ID, PAD_ID]) == "Ein Mann"


def test_unseen_characters_become_unk(bpe: Tokenizer) -> None:
    ids = bpe.encode("Ein ☃ Mann 日本")
    assert ids.count(UNK_ID) == 3  # one unk per unseen character, no crash
    # the documented exception: unk is dropped on decoding
    assert bpe.decode(ids) == "Ein  Mann "
    assert "<unk>" in bpe.decode(ids, skip_special_tokens=False)


def test_tokens_are_readable(bpe: Tokenizer) -> None:
    assert "".join(bpe.tokens("Zwei Hunde")) == "▁Zwei▁Hunde"


def test_save_load_identical(bpe: Tokenizer, tmp_path: Path) -> None:
    path = bpe.save(tmp_path / "ckpt" / "tokenizer.json")
    loaded = Tokenizer.load(path)
    assert loaded.vocab_size == bpe.vocab_size
    for src, tgt in TRAIN[:4]:
        assert (
            loaded.encode(src) == bpe.encode(src)
            and loaded.decode(loaded.encode(tgt)) == tgt
        )


def test_load_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError,
        match=r"Tokenizer file not found: .*tok\.json.*train_tokenizer_for",
    ):
        Tokenizer.load(tmp_path / "tok.json")


def test_rejects_tokenizer_with_other_special_ids(tmp_path: Path) -> None:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models

    hf = HFTokenizer(
        models.WordLevel(
            {"<unk>": 0, "<pad>": 1, "<s>": 2, "</s>": 3}, unk_token="<unk>"
        )
    )
    with pytest.raises(ValueError, match="'<pad>' has id 1"):
        Tokenizer(hf)


def test_word_level_for_synthetic_tasks() -> None:
    pairs = number_task(200, seed=0)
    tok = train_tokenizer_for(pairs, word_level=True)
    src, tgt = "three hundred forty five", "drei hundert fünf und vierzig"
    # one token per word
    assert len(tok.encode(src)) == 4 and len(tok.encode(tgt)) == 5
    assert tok.decode(tok.encode(tgt)) == tgt
    assert tok.encode("forty million")[-1] == UNK_ID


# -- the tokenizer never sees validation or test text -------------------------
SENTINEL_VAL, SENTINEL_TEST = "Zyxwvalqq", "Qqtestzyxw"


@pytest.fixture
def corpus_with_sentinels(tmp_path: Path) -> Path:
    """Train has ordinary text; val and test repeat a made-up word that BPE
    would learn if it saw it."""
    splits = {
        "train": [(f"Ein Hund {i}.", f"A dog {i}.") for i in range(50)],
        "val": [(f"{SENTINEL_VAL} {SENTINEL_VAL}.", f"{SENTINEL_VAL}.")] * 50,
        "test_2016_flickr": (
            [(f"{SENTINEL_TEST} {SENTINEL_TEST}.", f"{SENTINEL_TEST}.")] * 50
        ),
    }
    for prefix, pairs in splits.items():
        for lang, side in (("de", 0), ("en", 1)):
            with gzip.open(
                tmp_path / f"{prefix}.{lang}.gz", "wt", encoding="utf-8"
            ) as f:
                f.write("".join(p[side] + "\n" for p in pairs))
    return tmp_path


def test_tokenizer_sees_only_the_training_split(
    corpus_with_sentinels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = Tokenizer.train_bpe.__func__  # type: ignore[attr-defined]

    def spy(
        cls: type[Tokenizer],
        texts,  # noqa: ANN001
        vocab_size: int = 8000,
        min_frequency: int = 2,
    ) -> Tokenizer:
        texts = list(texts)
        seen.extend(texts)
        return original(cls, texts, vocab_size, min_frequency)

    monkeypatch.setattr(Tokenizer, "train_bpe", classmethod(spy))
    train = load_multi30k("train", data_dir=corpus_with_sentinels)
    tok = train_tokenizer_for(train, vocab_size=300)

    # both sides of every training pair, nothing else
    assert seen == [s for pair in train for s in pair]
    vocab = tok.hf.get_vocab()
    assert not any(
        word.lower() in token.lower()
        for token in vocab
        for word in ("zyxw", "qqtest")
    )
    # Control: the sentinel is a whole token as soon as the tokenizer is
    # (wrongly) trained on validation.
    leaked = train_tokenizer_for(
        load_multi30k("val", data_dir=corpus_with_sentinels), vocab_size=300
    )
    assert "▁" + SENTINEL_VAL in leaked.hf.get_vocab()


# -- encode_pairs -------------------------------------------------------------
def test_encode_pairs_layout(bpe: Tokenizer) -> None:
    (src, tgt), *_ = encode_pairs([("Ein Mann", "A man")], bpe)[0]
    assert src == bpe.encode("Ein Mann") + [EOS_ID]
    assert tgt == [BOS_ID] + bpe.encode("A man") + [EOS_ID]


def test_encode_pairs_counts_what_it_drops(bpe: Tokenizer) -> None:
    long = " ".join(["Hund"] * 30)
    pairs = [
        ("Ein Mann", "A man"),
        ("", "A man"),
        ("Ein Mann", "   "),
        (long, "A dog"),
        ("Hut", long),
        ("Hut", "hat"),
    ]
    examples, stats = encode_pairs(pairs, bpe, max_len=10)
    assert (stats.total, stats.kept, stats.empty, stats.too_long) == (
        6,
        2,
        2,
        2,
    )
    assert stats.kept_indices == [0, 5] and len(examples) == 2
    assert str(stats) == "kept 2 of 6 pairs (2 empty, 2 too long)"


def test_encode_pairs_max_len_counts_model_positions(bpe: Tokenizer) -> None:
    n = len(bpe.encode("Ein Mann fährt Fahrrad."))
    pair = [("Ein Mann fährt Fahrrad.", "Ein Mann fährt Fahrrad.")]
    # n tokens + EOS (or BOS) fit exactly
    assert encode_pairs(pair, bpe, max_len=n + 1)[1].kept == 1
    assert encode_pairs(pair, bpe, max_len=n)[1].too_long == 1


def test_encode_pairs_unknown_characters_are_unk(bpe: Tokenizer) -> None:
    ((src, _),) = encode_pairs([("Ein ☃", "A ☃")], bpe)[0]
    assert UNK_ID in src
