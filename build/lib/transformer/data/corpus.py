"""Parallel corpora as lists of ``(source, target)`` pairs, read from the
reader's own files.

Every loader in this package returns ``list[Pair]`` and nothing else, so the
rest of the pipeline (tokenizer,
:func:`~transformer.data.examples.encode_pairs`, batching) does not care where
the text came from. Three file formats are understood (``.gz`` is decompressed
on the fly):

* **plain text**, two files with one sentence per line, line ``i`` of one
  translating line ``i`` of the other (the layout of Multi30k and of most WMT
  releases);
* **TSV**, one pair per line, source and target in two tab-separated columns;
* **JSONL**, one JSON object per line, either flat (``{"de": ..., "en": ...}``)
  or in the Hugging Face translation schema (``{"translation": {"de": ...,
  "en": ...}}``, as WMT14 on the hub).

Loaders strip whitespace at both ends of each sentence (a trailing space is
noise, not content) and keep everything else, empty lines included: dropping
them is :func:`encode_pairs`' job, which counts what it drops (never silently).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

Pair = tuple[str, str]
"""One sentence pair: (source text, target text)."""

FileFormat = Literal["txt", "tsv", "jsonl"]


def open_text(path: str | Path) -> Iterator[str]:
    """Lines of a UTF-8 text file (gzip-compressed if the name ends in
    ``.gz``), line ends removed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Corpus file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    number = 0
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            for number, line in enumerate(f, 1):
                yield line.rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(
            f"{path}, {_first_bad_line(path, opener)}: not UTF-8 text; convert"
            " the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(
            f"{path} is named .gz but is not gzip-compressed, or is corrupt"
            f" ({e}); rename it without .gz if it is plain text, else download"
            " or copy it again"
        ) from None
    except EOFError:
        raise ValueError(
            f"{path} is truncated (the gzip stream ends after line {number});"
            " download or copy it again"
        ) from None


def _first_bad_line(path: Path, opener: Any) -> str:
    """Where the first byte that is not UTF-8 is (text mode decodes in chunks,
    so it cannot say)."""
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return (
                    f"line {number} (byte {raw[e.start : e.end]!r} after"
                    f" {raw[max(e.start - 20, 0) : e.start]!r})"
                )
    return "somewhere"


def read_lines(path: str | Path) -> list[str]:
    """All lines of a text file, each stripped at both ends."""
    return [line.strip() for line in open_text(path)]


def zip_parallel(
    src_lines: list[str], tgt_lines: list[str], src_name: str, tgt_name: str
) -> list[Pair]:
    """Pair line ``i`` of the source with line ``i`` of the target; unequal
    lengths are an error.

    A line-count mismatch means the files are not aligned, and every pair after
    the first missing line would be wrong, so we refuse rather than truncate.
    """
    if len(src_lines) != len(tgt_lines):
        raise ValueError(
            f"Parallel files have different numbers of lines: {src_name} has"
            f" {len(src_lines)}, {tgt_name} has {len(tgt_lines)}. Line i of"
            " one must translate line i of the other; re-export or re-align"
            " the two files."
        )
    return list(zip(src_lines, tgt_lines))


def translation_rows_to_pairs(
    rows: Iterable[Mapping[str, Any]],
    src_key: str,
    tgt_key: str,
    where: str = "rows",
) -> list[Pair]:
    """Convert rows in either JSON schema to pairs.

    A row is flat (``{src_key: ..., tgt_key: ...}``) or nested in the Hugging
    Face translation schema (``{"translation": {src_key: ..., tgt_key:
    ...}}``). The WMT14 loader uses this same function for the hub and for
    local files, so a test on a local sample checks the hub's conversion code.
    """
    pairs: list[Pair] = []
    for i, row in enumerate(rows, start=1):
        record = (
            row["translation"]
            if "translation" in row and src_key not in row
            else row
        )
        try:
            src, tgt = record[src_key], record[tgt_key]
        except (KeyError, TypeError):
            keys = (
                sorted(record)
                if isinstance(record, Mapping)
                else type(record).__name__
            )
            raise ValueError(
                f"{where}: record {i} has no {src_key!r} and {tgt_key!r}"
                f" fields (it has {keys}); pass the right field names"
            ) from None
        pairs.append((str(src).strip(), str(tgt).strip()))
    return pairs


def jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per non-blank line; a clear error
    names a bad line."""
    for lineno, line in enumerate(open_text(path), start=1):
        # a blank line is not a record (common at the end of a file)
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path}, line {lineno}: not valid JSON ({err.msg})"
            ) from None


def _tsv_pairs(path: Path, src_col: int, tgt_col: int) -> list[Pair]:
    pairs: list[Pair] = []
    need = max(src_col, tgt_col) + 1
    for lineno, line in enumerate(open_text(path), start=1):
        # an empty line is an empty pair, counted later by encode_pairs
        if not line.strip():
            pairs.append(("", ""))
            continue
        cols = line.split("\t")
        if len(cols) < need:
            raise ValueError(
                f"{path}, line {lineno}: expected at least {need}"
                f" tab-separated columns, found {len(cols)}; check the"
                " separator is a tab or pass fields=(src_col, tgt_col)"
            )
        pairs.append((cols[src_col].strip(), cols[tgt_col].strip()))
    return pairs


def _two_keys(row: Mapping[str, Any], path: Path) -> tuple[str, str]:
    """The (source, target) keys of a record with exactly two languages, in
    written order."""
    record = row.get("translation", row)
    keys = list(record) if isinstance(record, Mapping) else []
    if len(keys) != 2:
        raise ValueError(
            f"{path}: cannot guess which keys hold source and target among"
            f" {keys}; pass them, e.g. fields=('de', 'en')"
        )
    return keys[0], keys[1]


def infer_format(path: str | Path) -> FileFormat:
    """``"tsv"`` or ``"jsonl"`` from the file name (``.gz`` ignored), else
    ``"txt"``."""
    name = Path(path).name.removesuffix(".gz")
    if name.endswith(".tsv"):
        return "tsv"
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    return "txt"


def load_parallel_files(
    src_path: str | Path,
    tgt_path: str | Path | None = None,
    *,
    fields: tuple[str, str] | tuple[int, int] | None = None,
    format: FileFormat | None = None,
) -> list[Pair]:
    """Load the reader's own parallel data: two text files, one TSV file or one
    JSONL file.

    Args:
        src_path: the source-language text file, or the single TSV / JSONL
            file.
        tgt_path: the target-language text file (plain text only).
        fields: TSV column indices (default ``(0, 1)``) or JSONL keys (e.g.
            ``("de", "en")``; rows may be flat or nested under
            ``"translation"``; default: the two keys of the first record, in
            the order they are written, source first).
        format: ``"txt"``, ``"tsv"`` or ``"jsonl"``; by default from
            ``src_path``'s extension (``.tsv``, ``.jsonl``; anything else is
            plain text), ``"txt"`` when ``tgt_path`` is given.

    Returns:
        One ``(source, target)`` pair per line or record, in file order, empty
        ones included.

    Examples::

        load_parallel_files("train.de", "train.en")
        load_parallel_files("train.tsv")  # column 0 -> column 1
        load_parallel_files("train.jsonl", fields=("de", "en"))
    """
    fmt = format or ("txt" if tgt_path is not None else infer_format(src_path))
    src_path = Path(src_path)
    if fmt == "txt":
        if tgt_path is None:
            raise ValueError(
                f"{src_path} is read as plain text, which needs a second file"
                " with the target side: load_parallel_files(src_path,"
                " tgt_path); for one file use a .tsv or .jsonl name or"
                " format='tsv' / format='jsonl'"
            )
        return zip_parallel(
            read_lines(src_path),
            read_lines(tgt_path),
            str(src_path),
            str(tgt_path),
        )
    if tgt_path is not None:
        raise ValueError(
            f"format={fmt!r} reads both sides from one file; do not pass"
            " tgt_path"
        )
    if fmt == "tsv":
        src_col, tgt_col = fields if fields is not None else (0, 1)
        if not isinstance(src_col, int) or not isinstance(tgt_col, int):
            raise ValueError(
                f"TSV fields are column indices, e.g. (0, 1); got {fields!r}"
            )
        return _tsv_pairs(src_path, src_col, tgt_col)
    if fmt == "jsonl":
        rows = list(jsonl_rows(src_path))
        if fields is None:
            fields = _two_keys(rows[0], src_path) if rows else ("", "")
        if not all(isinstance(f, str) for f in fields):
            raise ValueError(
                "JSONL fields are keys, e.g. fields=('de', 'en'); got"
                f" {fields!r}"
            )
        src_key, tgt_key = fields
        return translation_rows_to_pairs(
            rows, str(src_key), str(tgt_key), str(src_path)
        )
    raise ValueError(f"Unknown format {fmt!r}; use 'txt', 'tsv' or 'jsonl'")
