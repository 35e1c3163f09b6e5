"""WMT14 English-German, the paper's data (§5.1): about 4.5 million training
pairs.

From the Hugging Face hub (``wmt/wmt14``, config ``de-en``, formerly ``wmt14``;
splits ``train``, ``validation`` = newstest2013 as in §6.2, ``test`` =
newstest2014 as in Table 2), or from a local directory with files in the hub's
schema, one row per pair::

    {"translation": {"de": "...", "en": "..."}}

as ``{split}.jsonl`` (or ``.jsonl.gz``) or ``{split}*.parquet``, where
``split`` is ``train``, ``validation`` (``val`` also accepted) or ``test``,
directly in the directory or in ``de-en/`` (the layout of a hub snapshot). Hub
rows and local rows go through the same
:func:`~transformer.data.corpus.translation_rows_to_pairs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformer.data.corpus import Pair, jsonl_rows, translation_rows_to_pairs
from transformer.data.hub import load_hub_split

WMT14_HUB = "wmt/wmt14"
WMT14_CONFIG = "de-en"
HUB_SPLITS = {
    "train": "train",
    "val": "validation",
    "validation": "validation",
    "test": "test",
}

_HOW_TO_FIX = (
    'To work offline, put the split in the hub\'s schema ({"translation":'
    ' {"de": ..., "en": ...}} per row) as DIR/{split}.jsonl[.gz] or'
    " DIR/{split}*.parquet and pass load_wmt14(..., data_dir=DIR)."
)


def _rows_from_file(path: Path) -> Iterator[dict[str, Any]]:
    if path.name.endswith(".parquet"):
        # installed with `datasets`; only needed for parquet files
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
        return
    yield from jsonl_rows(path)


def _local_files(directory: Path, split: str) -> list[Path]:
    # e.g. "val" then "validation", no duplicates
    names = dict.fromkeys([split, HUB_SPLITS[split]])
    for folder in (directory, directory / WMT14_CONFIG):
        for name in names:
            for pattern in (
                f"{name}.jsonl",
                f"{name}.jsonl.gz",
                f"{name}.parquet",
                f"{name}-*.parquet",
            ):
                found = sorted(folder.glob(pattern))
                if found:
                    return found
    raise FileNotFoundError(
        f"No WMT14 {split!r} file in {directory}: expected {split}.jsonl,"
        f" {split}.jsonl.gz or {HUB_SPLITS[split]}-*.parquet there or in"
        f" {directory / WMT14_CONFIG}. {_HOW_TO_FIX}"
    )


def load_wmt14(
    split: str,
    src_lang: str = "en",
    tgt_lang: str = "de",
    data_dir: str | Path | None = None,
) -> list[Pair]:
    """One split of WMT14 en-de as ``(source, target)`` pairs (§5.1).

    Args:
        split: ``"train"``, ``"val"`` (newstest2013) or ``"test"``
            (newstest2014).
        src_lang, tgt_lang: ``"en"`` and ``"de"`` in either order.
        data_dir: a local directory in the hub's schema (see the module
            docstring); None: the hub.
    """
    if split not in HUB_SPLITS:
        raise ValueError(
            f"Unknown WMT14 split {split!r}; use 'train', 'val' or 'test'"
        )
    if {src_lang, tgt_lang} != {"en", "de"}:
        raise ValueError(
            f"WMT14 {WMT14_CONFIG} has en and de; got src_lang={src_lang!r},"
            f" tgt_lang={tgt_lang!r}"
        )
    if data_dir is not None:
        directory = Path(data_dir).expanduser()
        if not directory.is_dir():
            raise FileNotFoundError(
                f"WMT14 directory {directory} does not exist. {_HOW_TO_FIX}"
            )
        pairs: list[Pair] = []
        for path in _local_files(directory, split):
            pairs += translation_rows_to_pairs(
                _rows_from_file(path), src_lang, tgt_lang, where=str(path)
            )
        return pairs
    dataset = load_hub_split(
        WMT14_HUB, WMT14_CONFIG, HUB_SPLITS[split], _HOW_TO_FIX
    )
    return translation_rows_to_pairs(
        dataset, src_lang, tgt_lang, where=f"{WMT14_HUB} ({split})"
    )
