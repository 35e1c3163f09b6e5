"""Trained models as files: export a checkpoint for shipping, load one in a
line, translate.

A shipped model is an ordinary checkpoint directory
(``transformer.checkpoint``) without optimizer or random state, its
weights stored in float16 (half the bytes; loading casts them back to float32),
beside ``model_config.json``, ``run_config.json`` (the decoding settings come
from its ``[decode]`` table) and ``tokenizer.json``, all covered by
``manifest.json``::

    from transformer.pretrained import load_translator
    translator = load_translator("models/multi30k-de-en")
    translator.translate(["Ein Mann fährt mit dem Fahrrad."])
    # ['A man is riding a bike.'] or so

or on the command line ``python -m transformer translate --model
models/multi30k-de-en "..."``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from transformer.build import Model
from transformer.decode import translate

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


@dataclass
class Translator:
    """A trained model, its tokenizer and its decoding settings (beam 4, α =
    0.6 unless the run said otherwise)."""

    model: Model
    tokenizer: Any
    beam_size: int = 4
    alpha: float = 0.6
    extra_len: int = 50
    batch_size: int = 64

    def translate(
        self, sentences: str | list[str], **options: Any
    ) -> str | list[str]:
        """Translate one sentence (returns a string) or a list (returns a
        list); ``options`` override ``beam_size``, ``alpha``, ``extra_len`` or
        ``batch_size`` for this call."""
        unknown = set(options) - {
            "beam_size",
            "alpha",
            "extra_len",
            "batch_size",
        }
        if unknown:
            raise TypeError(
                f"unknown decoding option(s) {sorted(unknown)}; use beam_size,"
                " alpha, extra_len, batch_size"
            )
        settings = {
            "beam_size": self.beam_size,
            "alpha": self.alpha,
            "extra_len": self.extra_len,
            "batch_size": self.batch_size,
            **options,
        }
        single = isinstance(sentences, str)
        out = translate(
            self.model,
            self.tokenizer,
            [sentences] if single else list(sentences),
            **settings,
        )
        return out[0] if single else out


def load_translator(
    path: str | Path, device: str | torch.device = "cpu"
) -> Translator:
    """Load a shipped model (or any checkpoint directory) for translation, in
    eval mode."""
    from transformer.checkpoint import (
        load_model,
        load_run_config,
        load_tokenizer,
    )

    path = Path(path)
    model = load_model(path, device=device)
    decode = (load_run_config(path) or {}).get("decode", {})
    return Translator(
        model,
        load_tokenizer(path),
        beam_size=decode.get("beam_size", 4),
        alpha=decode.get("alpha", 0.6),
        extra_len=decode.get("extra_len", 50),
    )


def export_model(
    checkpoint: str | Path,
    output: str | Path,
    *,
    dtype: str = "fp16",
    overwrite: bool = False,
) -> Path:
    """Write ``checkpoint``'s weights in ``dtype`` with its configs and
    tokenizer to a new folder ``output``.

    ``output`` must not exist, or (with ``overwrite``) must be an earlier
    export: a folder holding anything else is never replaced.
    """
    from transformer.checkpoint import (
        TOKENIZER,
        CheckpointError,
        load_model,
        load_run_config,
        refuse_to_replace,
        write_checkpoint,
    )

    if dtype not in DTYPES:
        raise ValueError(
            f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}"
        )
    checkpoint, output = Path(checkpoint), Path(output)
    refuse_to_replace(
        output,
        marker="exported_from",
        what="exported model",
        overwrite=overwrite,
    )
    if not (checkpoint / TOKENIZER).is_file():
        raise CheckpointError(
            f"{checkpoint} has no {TOKENIZER}; a shipped model needs its"
            " tokenizer"
        )
    model = load_model(checkpoint).to(DTYPES[dtype])
    return write_checkpoint(
        output,
        model,
        model.config,
        tokenizer=checkpoint / TOKENIZER,
        run_config=load_run_config(checkpoint),
        trainer_state={"exported_from": str(checkpoint), "dtype": dtype},
    )
