"""One tokenizer shared by source and target: byte-pair encoding (§5.1) or
whole words.

§5.1: "Sentences were encoded using byte-pair encoding [Sennrich et al.], which
has a shared source-target vocabulary of about 37000 tokens." We train a BPE
model with Hugging Face ``tokenizers`` on the source *and* target sides of the
**training split only** (validation and test text must never shape the
vocabulary), 8,000 tokens by default for Multi30k, 37,000 for WMT14.

Pre-tokenization: **Metaspace** (SentencePiece style): every space becomes
``▁`` glued to the next word, so a token sequence carries its own spacing and
the matching decoder restores it exactly: ``decode(encode(s)) == s``. We chose
it over byte-level BPE (GPT-2 style), which also round-trips exactly and never
needs unk, because on Multi30k both round-trip every validation and test
sentence, Metaspace needs ~5% fewer tokens per sentence, and its tokens read as
text (``▁Mädchen``, not ``ĠMÃ¤dchen``) in the book's figures. The exceptions to
the round trip, all outside normal text:

* a character never seen in training becomes ``<unk>`` (it cannot crash), and
  decoding drops it;
* whitespace at the start of the text is lost (our loaders strip it anyway);
* the character ``▁`` (U+2581) itself decodes as a space.

Special tokens have fixed ids so that the model, the batching and the decoders
can rely on them: ``<pad>`` = 0, ``<s>`` (bos) = 1, ``</s>`` (eos) = 2,
``<unk>`` = 3. The whole tokenizer is one JSON file, saved beside the
checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from transformer.data.corpus import Pair

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # list position = id
METASPACE = "▁"


class Tokenizer:
    """A thin wrapper around one Hugging Face ``tokenizers.Tokenizer`` with
    fixed special ids.

    ``encode`` adds no special tokens:
    :func:`~transformer.data.examples.encode_pairs` adds EOS to the source and
    BOS/EOS to the target. ``decode`` drops special tokens and returns
    detokenized text.
    """

    def __init__(self, hf_tokenizer: HFTokenizer) -> None:
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            if hf_tokenizer.token_to_id(token) != expected_id:
                raise ValueError(
                    f"This package needs the special tokens {SPECIAL_TOKENS}"
                    f" at ids 0..3, but {token!r} has id"
                    f" {hf_tokenizer.token_to_id(token)}; train it with"
                    " Tokenizer.train_bpe or train_word_level"
                )
        self.hf = hf_tokenizer

    # -- training -------------------------------------------------------------
    @classmethod
    def train_bpe(
        cls,
        texts: Iterable[str],
        vocab_size: int = 8000,
        min_frequency: int = 2,
    ) -> Tokenizer:
        """Learn a BPE vocabulary of at most ``vocab_size`` tokens (specials
        included) from ``texts`` (§5.1).

        Give it the source and target sentences of the training split
        (``train_tokenizer_for`` does). A small corpus may end with fewer
        tokens than asked for: BPE stops when no pair occurs ``min_frequency``
        times.
        """
        if vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(
                f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special"
                f" tokens, got {vocab_size}"
            )
        hf = HFTokenizer(models.BPE(unk_token=UNK))
        hf.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement=METASPACE, prepend_scheme="always", split=True
        )
        hf.decoder = decoders.Metaspace(
            replacement=METASPACE, prepend_scheme="always", split=True
        )
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            show_progress=False,
        )
        hf.train_from_iterator(texts, trainer)
        return cls(hf)

    @classmethod
    def train_word_level(
        cls, texts: Iterable[str], min_frequency: int = 1
    ) -> Tokenizer:
        """One token per whitespace-separated word, for the synthetic tasks
        (tokens = words = symbols)."""
        hf = HFTokenizer(models.WordLevel(unk_token=UNK))
        # decoding joins words with one space
        hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.WordLevelTrainer(
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            show_progress=False,
        )
        hf.train_from_iterator(texts, trainer)
        return cls(hf)

    # -- encoding and decoding ------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without special tokens; unknown characters or
        words give ``unk_id``."""
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """``[encode(t) for t in texts]``, in parallel in Rust (much faster on
        a whole corpus)."""
        # encode_batch_fast (tokenizers >= 0.20) skips computing character
        # offsets, which we never use.
        encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)
        return [e.ids for e in encode(list(texts), add_special_tokens=False)]

    def decode(
        self, ids: Iterable[int], skip_special_tokens: bool = True
    ) -> str:
        """Detokenized text of ``ids``; pad, bos, eos and unk are dropped
        unless ``skip_special_tokens=False``."""
        return self.hf.decode(
            [int(i) for i in ids], skip_special_tokens=skip_special_tokens
        )

    def decode_batch(
        self, batch: Iterable[Iterable[int]], skip_special_tokens: bool = True
    ) -> list[str]:
        """``[decode(ids) for ids in batch]``."""
        return self.hf.decode_batch(
            [[int(i) for i in ids] for ids in batch],
            skip_special_tokens=skip_special_tokens,
        )

    def tokens(self, text: str) -> list[str]:
        """The token strings of ``text`` (for display: ``['▁Ein', '▁Mädchen',
        ...]``)."""
        return self.hf.encode(text, add_special_tokens=False).tokens

    def id_to_token(self, token_id: int) -> str | None:
        return self.hf.id_to_token(token_id)

    def token_to_id(self, token: str) -> int | None:
        return self.hf.token_to_id(token)

    # -- properties -----------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of token ids, special tokens included (the model's
        ``vocab_size``)."""
        return self.hf.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>`` (0)."""
        return PAD_ID

    @property
    def bos_id(self) -> int:
        """Id of ``<s>``, the first decoder input (1)."""
        return BOS_ID

    @property
    def eos_id(self) -> int:
        """Id of ``</s>``, which ends every sequence (2)."""
        return EOS_ID

    @property
    def unk_id(self) -> int:
        """Id of ``<unk>``, for text outside the vocabulary (3)."""
        return UNK_ID

    # -- files ----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the whole tokenizer (model, pre-tokenizer, decoder,
        vocabulary) to one JSON file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.hf.save(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a tokenizer written by :meth:`save`; a clear error when the
        file is missing."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"Tokenizer file not found: {path}. Create it from the"
                " training split with `train_tokenizer_for(train_pairs,"
                " vocab_size=8000).save(path)` (or"
                " Tokenizer.train_bpe(texts)), or point to the tokenizer.json"
                " saved beside the checkpoint you are loading."
            )
        return cls(HFTokenizer.from_file(str(path)))

    def __repr__(self) -> str:
        kind = type(self.hf.model).__name__
        return f"Tokenizer({kind}, vocab_size={self.vocab_size})"


def _both_sides(pairs: Iterable[Pair]) -> Iterator[str]:
    for src, tgt in pairs:
        yield src
        yield tgt


def train_tokenizer_for(
    train_pairs: Iterable[Pair],
    vocab_size: int = 8000,
    *,
    word_level: bool = False,
) -> Tokenizer:
    """The shared source-target tokenizer of §5.1, trained on the sentences of
    ``train_pairs``.

    Pass the **training split only**: the vocabulary must not be shaped by
    validation or test text. Both sides go in, so one vocabulary (and one
    embedding matrix, §3.4) serves source and target.
    """
    texts = _both_sides(train_pairs)
    if word_level:
        return Tokenizer.train_word_level(texts)
    return Tokenizer.train_bpe(texts, vocab_size=vocab_size)
