"""Text in, text out: tokenize, batch by length, decode (beam or greedy),
detokenize."""

from __future__ import annotations

from typing import Protocol

import torch

from transformer.build import Model
from transformer.decode.beam import beam_decode
from transformer.decode.greedy import greedy_decode


class TextTokenizer(Protocol):
    """What translation needs from ``transformer.data.Tokenizer``."""

    pad_id: int
    bos_id: int
    eos_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@torch.no_grad()
def translate(
    model: Model,
    tokenizer: TextTokenizer,
    sentences: list[str],
    *,
    beam_size: int = 4,
    alpha: float = 0.6,
    extra_len: int = 50,
    batch_size: int = 64,
) -> list[str]:
    """Translate ``sentences``; ``beam_size=1`` means greedy decoding. Returns
    detokenized strings.

    Sentences are sorted by length into batches (less padding) and returned in
    the input order. Source ids are ``tokens + [EOS]``, as in training
    (``transformer.data.encode_pairs``). An empty (or whitespace-only) sentence
    translates to an empty string, never to text the model invents from EOS
    alone; a sentence longer than the model's positional table is cut to its
    beginning (:func:`too_long` tells which ones will be).
    """
    if beam_size < 1:
        raise ValueError(
            f"beam_size must be >= 1 (1: greedy decoding), got {beam_size}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        # longer inputs are cut to fit the positional table (§3.5)
        limit = max_source_tokens(model)
        encoded = [
            tokenizer.encode(s)[:limit] + [tokenizer.eos_id] for s in sentences
        ]
        order = sorted(
            (i for i in range(len(encoded)) if sentences[i].strip()),
            key=lambda i: len(encoded[i]),
        )
        outputs: list[str] = [""] * len(sentences)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in chunk)
            # (B, S)
            src = torch.full(
                (len(chunk), width), tokenizer.pad_id, dtype=torch.long
            )
            for row, i in enumerate(chunk):
                src[row, : len(encoded[i])] = torch.tensor(encoded[i])
            src = src.to(device)
            ids = {
                "bos_id": tokenizer.bos_id,
                "eos_id": tokenizer.eos_id,
                "extra_len": extra_len,
            }
            if beam_size == 1:
                best = [h.tokens for h in greedy_decode(model, src, **ids)]
            else:
                best = [
                    hs[0].tokens
                    for hs in beam_decode(
                        model, src, beam_size=beam_size, alpha=alpha, **ids
                    )
                ]
            for i, tokens in zip(chunk, best):
                outputs[i] = tokenizer.decode(tokens)
    finally:
        model.train(was_training)
    return outputs


def max_source_tokens(model: Model) -> int:
    """The most source tokens (before EOS) that :func:`translate` keeps: all
    but one row of the positional table for the encoder-decoder (EOS takes
    the last); a one-stack model shares its table between the source and the
    output, so the source gets half of it."""
    if model.config.architecture == "encoder_decoder":
        return model.config.max_len - 1
    return model.config.max_len // 2 - 1


def too_long(
    model: Model, tokenizer: TextTokenizer, sentences: list[str]
) -> list[tuple[int, int]]:
    """(index, number of tokens) of the sentences that :func:`translate` will
    cut to :func:`max_source_tokens`."""
    limit = max_source_tokens(model)
    return [
        (i, n)
        for i, s in enumerate(sentences)
        if (n := len(tokenizer.encode(s))) > limit
    ]
