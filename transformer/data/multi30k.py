"""Multi30k (Elliott et al., 2016): 29,000 / 1,014 / 1,000 image captions in
en, de and fr.

The paper trains on WMT14 (§5.1); Multi30k is the small corpus on which the
book's chapters train a Transformer on a CPU in minutes. Two sources, tried in
this order:

1. a **local directory** in the original raw layout (``train.de.gz``,
   ``val.en.gz``, ``test_2016_flickr.fr.gz``, ...; uncompressed names work
   too), from the ``data_dir`` argument or else the ``MULTI30K_DIR``
   environment variable;
2. the **Hugging Face hub** copy ``bentrevett/multi30k`` (columns ``"en"`` and
   ``"de"`` only: French is available from a local directory only).
"""

from __future__ import annotations

import os
from pathlib import Path

from transformer.data.corpus import (
    Pair,
    read_lines,
    translation_rows_to_pairs,
    zip_parallel,
)
from transformer.data.hub import load_hub_split

MULTI30K_ENV = "MULTI30K_DIR"
MULTI30K_HUB = "bentrevett/multi30k"
MULTI30K_LANGS = ("de", "en", "fr")
HUB_LANGS = ("de", "en")
SPLIT_FILES = {"train": "train", "val": "val", "test": "test_2016_flickr"}
"""File-name prefix of each split in the raw layout; ``test`` is the 2016
Flickr test set."""
HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}
SPLIT_SIZES = {"train": 29_000, "val": 1_014, "test": 1_000}

_HOW_TO_FIX = (
    "To work offline, download the raw files (train.de.gz, val.en.gz,"
    " test_2016_flickr.fr.gz, ...) into a directory and pass"
    " load_multi30k(..., data_dir=DIR) or set the environment variable"
    f" {MULTI30K_ENV}=DIR."
)


def _local_file(directory: Path, split: str, lang: str) -> Path:
    stem = f"{SPLIT_FILES[split]}.{lang}"
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"Multi30k file {directory / (stem + '.gz')} not found (nor {stem}"
        " uncompressed). The directory must hold the raw layout:"
        " {train,val,test_2016_flickr}.{de,en,fr}.gz; fix data_dir or"
        f" {MULTI30K_ENV}."
    )


def load_multi30k(
    split: str,
    src_lang: str = "de",
    tgt_lang: str = "en",
    data_dir: str | Path | None = None,
) -> list[Pair]:
    """One split of Multi30k as ``(source, target)`` pairs.

    Args:
        split: ``"train"`` (29,000 pairs), ``"val"`` (1,014) or ``"test"``
            (1,000, ``test_2016_flickr``).
        src_lang, tgt_lang: two different languages among ``"de"``, ``"en"``,
            ``"fr"``.
        data_dir: directory with the raw files; default ``$MULTI30K_DIR``;
            neither: the hub.

    Raises:
        ValueError: unknown split or language, the hub asked for French, or
            files of unequal length.
        FileNotFoundError: a file is missing from the local directory.
        HubUnavailableError: no local directory and the hub cannot be reached.
    """
    if split not in SPLIT_FILES:
        raise ValueError(
            f"Unknown Multi30k split {split!r}; use one of"
            f" {sorted(SPLIT_FILES)}"
        )
    for lang in (src_lang, tgt_lang):
        if lang not in MULTI30K_LANGS:
            raise ValueError(
                f"Multi30k has no language {lang!r}; use one of"
                f" {MULTI30K_LANGS}"
            )
    if src_lang == tgt_lang:
        raise ValueError(
            f"Source and target language are both {src_lang!r}; pick two"
            " different ones"
        )

    directory = (
        data_dir
        if data_dir is not None
        else os.environ.get(MULTI30K_ENV) or None
    )
    if directory is not None:
        directory = Path(directory).expanduser()
        if not directory.is_dir():
            source = "data_dir" if data_dir is not None else f"${MULTI30K_ENV}"
            raise FileNotFoundError(
                f"Multi30k directory {directory} (from {source}) does not"
                f" exist. {_HOW_TO_FIX}"
            )
        src_file, tgt_file = (
            _local_file(directory, split, src_lang),
            _local_file(directory, split, tgt_lang),
        )
        return zip_parallel(
            read_lines(src_file),
            read_lines(tgt_file),
            str(src_file),
            str(tgt_file),
        )

    missing = [lang for lang in (src_lang, tgt_lang) if lang not in HUB_LANGS]
    if missing:
        raise ValueError(
            f"The hub copy {MULTI30K_HUB} has only {' and '.join(HUB_LANGS)},"
            f" not {missing[0]!r}; French comes only from a local directory of"
            f" raw files: pass data_dir=DIR or set {MULTI30K_ENV}=DIR."
        )
    dataset = load_hub_split(
        MULTI30K_HUB, None, HUB_SPLITS[split], _HOW_TO_FIX
    )
    return translation_rows_to_pairs(
        dataset, src_lang, tgt_lang, where=f"{MULTI30K_HUB} ({split})"
    )
