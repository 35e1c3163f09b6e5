"""Corpus loaders on small files written under tmp_path: raw-gz Multi30k, txt,
TSV, JSONL, WMT schema.

The hub is never contacted: a fake ``datasets`` module stands in for it, so the
hub code paths (split names, column names, schema conversion, offline errors)
are tested offline and fast.
"""

from __future__ import annotations

import gzip
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from transformer.data import (
    HubUnavailableError,
    hub,
    load_multi30k,
    load_parallel_files,
    load_wmt14,
)

DE = ["Ein Hund läuft.", "Zwei Männer  spielen Fußball. ", "Eine Frau liest."]
EN = ["A dog runs.", "Two men  play soccer.", "A woman reads."]
FR = ["Un chien court.", "Deux hommes jouent au football.", "Une femme lit."]


def write_lines(path: Path, lines: list[str]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def multi30k_dir(tmp_path: Path) -> Path:
    """A miniature Multi30k in the original raw layout."""
    for prefix, n in (("train", 3), ("val", 2), ("test_2016_flickr", 1)):
        for lang, lines in (("de", DE), ("en", EN), ("fr", FR)):
            write_lines(tmp_path / f"{prefix}.{lang}.gz", lines[:n])
    return tmp_path


class FakeDatasets(types.ModuleType):
    """Stands in for the `datasets` package: records calls, returns given rows
    or raises."""

    def __init__(
        self,
        rows: list[dict[str, Any]] | None = None,
        error: Exception | None = None,
    ) -> None:
        super().__init__("datasets")
        self.rows, self.error, self.calls = rows, error, []

    def load_dataset(
        self, path: str, name: str | None = None, split: str | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append((path, name, split))
        if self.error is not None:
            raise self.error
        assert self.rows is not None
        return self.rows


@pytest.fixture
def no_local_multi30k(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MULTI30K_DIR", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)


def install_fake_hub(
    monkeypatch: pytest.MonkeyPatch, fake: FakeDatasets, reachable: bool = True
) -> FakeDatasets:
    monkeypatch.setitem(sys.modules, "datasets", fake)
    monkeypatch.setattr(
        hub, "hub_reachable", lambda timeout=hub.PROBE_TIMEOUT_S: reachable
    )
    return fake


# -- Multi30k, local raw layout -----------------------------------------------
@pytest.mark.parametrize("split, n", [("train", 3), ("val", 2), ("test", 1)])
def test_multi30k_raw_gz_layout(
    multi30k_dir: Path, split: str, n: int
) -> None:
    pairs = load_multi30k(split, "de", "en", data_dir=multi30k_dir)
    assert pairs == [(d.strip(), e.strip()) for d, e in zip(DE[:n], EN[:n])]


def test_multi30k_strips_ends_keeps_inner_spaces(multi30k_dir: Path) -> None:
    pairs = load_multi30k("train", data_dir=multi30k_dir)
    assert pairs[1] == (
        "Zwei Männer  spielen Fußball.",
        "Two men  play soccer.",
    )


@pytest.mark.parametrize(
    "src, tgt, expected",
    [("en", "fr", (EN[0], FR[0])), ("fr", "de", (FR[0], DE[0]))],
)
def test_multi30k_language_directions(
    multi30k_dir: Path, src: str, tgt: str, expected: tuple[str, str]
) -> None:
    assert (
        load_multi30k("train", src, tgt, data_dir=multi30k_dir)[0] == expected
    )


def test_multi30k_reads_env_var_before_the_hub(
    multi30k_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_local_multi30k: None,
) -> None:
    fake = install_fake_hub(
        monkeypatch,
        FakeDatasets(error=AssertionError("the hub must not be used")),
    )
    monkeypatch.setenv("MULTI30K_DIR", str(multi30k_dir))
    assert len(load_multi30k("val")) == 2
    assert fake.calls == []


def test_multi30k_uncompressed_files(tmp_path: Path) -> None:
    write_lines(tmp_path / "val.de", DE)
    write_lines(tmp_path / "val.en", EN)
    assert len(load_multi30k("val", data_dir=tmp_path)) == 3


def test_multi30k_unequal_line_counts_name_files_and_counts(
    multi30k_dir: Path,
) -> None:
    write_lines(multi30k_dir / "train.en.gz", EN[:2])
    with pytest.raises(
        ValueError, match=r"train\.de\.gz has 3.*train\.en\.gz has 2"
    ):
        load_multi30k("train", data_dir=multi30k_dir)


def test_multi30k_missing_file_names_path(multi30k_dir: Path) -> None:
    (multi30k_dir / "val.fr.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"val\.fr\.gz not found"):
        load_multi30k("val", "de", "fr", data_dir=multi30k_dir)


def test_multi30k_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match="does not exist.*MULTI30K_DIR"
    ):
        load_multi30k("train", data_dir=tmp_path / "nowhere")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "dev"}, "Unknown Multi30k split"),
        ({"split": "train", "src_lang": "cs"}, "no language 'cs'"),
        ({"split": "train", "src_lang": "en", "tgt_lang": "en"}, "both 'en'"),
    ],
)
def test_multi30k_bad_arguments(
    multi30k_dir: Path, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_multi30k(**kwargs, data_dir=multi30k_dir)


# -- Multi30k, hub ------------------------------------------------------------
def test_multi30k_hub_rows_and_split_names(
    monkeypatch: pytest.MonkeyPatch, no_local_multi30k: None
) -> None:
    fake = install_fake_hub(
        monkeypatch,
        FakeDatasets(rows=[{"en": e, "de": d} for d, e in zip(DE, EN)]),
    )
    pairs = load_multi30k("val", "en", "de")
    assert fake.calls == [("bentrevett/multi30k", None, "validation")]
    assert pairs[0] == (EN[0], DE[0])


def test_multi30k_hub_has_no_french(
    monkeypatch: pytest.MonkeyPatch, no_local_multi30k: None
) -> None:
    fake = install_fake_hub(monkeypatch, FakeDatasets(rows=[]))
    with pytest.raises(
        ValueError, match="only de and en, not 'fr'.*MULTI30K_DIR"
    ):
        load_multi30k("train", "en", "fr")
    assert fake.calls == []


def test_multi30k_offline_message_names_both_fixes(
    monkeypatch: pytest.MonkeyPatch, no_local_multi30k: None
) -> None:
    fake = install_fake_hub(
        monkeypatch, FakeDatasets(rows=[]), reachable=False
    )
    with pytest.raises(
        HubUnavailableError, match=r"offline.*data_dir=DIR.*MULTI30K_DIR=DIR"
    ):
        load_multi30k("train")
    # failed fast, without waiting for datasets' retries
    assert fake.calls == []


def test_multi30k_hub_failure_is_rewrapped(
    monkeypatch: pytest.MonkeyPatch, no_local_multi30k: None
) -> None:
    install_fake_hub(
        monkeypatch,
        FakeDatasets(error=ConnectionError("Couldn't reach the Hub")),
    )
    with pytest.raises(
        HubUnavailableError,
        match=r"Couldn't reach the Hub.*data_dir=DIR.*MULTI30K_DIR",
    ):
        load_multi30k("train")


def test_hub_offline_flag_skips_probe_and_reads_cache(
    monkeypatch: pytest.MonkeyPatch, no_local_multi30k: None
) -> None:
    fake = install_fake_hub(
        monkeypatch,
        FakeDatasets(rows=[{"en": "a", "de": "b"}]),
        reachable=False,
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_multi30k("test") == [("b", "a")]
    assert fake.calls == [("bentrevett/multi30k", None, "test")]


def test_missing_datasets_package(
    monkeypatch: pytest.MonkeyPatch, no_local_multi30k: None
) -> None:
    # makes `import datasets` raise ImportError
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(
        HubUnavailableError, match=r"pip install datasets.*MULTI30K_DIR"
    ):
        load_multi30k("train")


# -- WMT14 (hub schema) -------------------------------------------------------
WMT_ROWS = [{"translation": {"de": d, "en": e}} for d, e in zip(DE, EN)]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
    return path


@pytest.mark.parametrize(
    "file_name, split",
    [("train.jsonl", "train"), ("validation.jsonl.gz", "val")],
)
def test_wmt14_local_jsonl_in_hub_schema(
    tmp_path: Path, file_name: str, split: str
) -> None:
    write_jsonl(tmp_path / file_name, WMT_ROWS)
    assert load_wmt14(split, "en", "de", data_dir=tmp_path) == [
        (e, d.strip()) for d, e in zip(DE, EN)
    ]


def test_wmt14_local_parquet_snapshot_layout(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    (tmp_path / "de-en").mkdir()
    for k, rows in enumerate((WMT_ROWS[:2], WMT_ROWS[2:])):
        pq.write_table(
            pa.Table.from_pylist(rows),
            tmp_path / "de-en" / f"test-0000{k}-of-00002.parquet",
        )
    assert load_wmt14("test", "de", "en", data_dir=tmp_path) == [
        (d.strip(), e) for d, e in zip(DE, EN)
    ]


def test_wmt14_hub_uses_the_same_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = install_fake_hub(monkeypatch, FakeDatasets(rows=WMT_ROWS))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert load_wmt14("val") == [(e, d.strip()) for d, e in zip(DE, EN)]
    assert fake.calls == [("wmt/wmt14", "de-en", "validation")]


def test_wmt14_missing_split_file(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", WMT_ROWS)
    with pytest.raises(FileNotFoundError, match=r"No WMT14 'test' file"):
        load_wmt14("test", data_dir=tmp_path)


def test_wmt14_wrong_languages() -> None:
    with pytest.raises(ValueError, match="en and de"):
        load_wmt14("train", "en", "fr")


# -- the reader's own files ---------------------------------------------------
def test_plain_text_pair(tmp_path: Path) -> None:
    src, tgt = (
        write_lines(tmp_path / "a.de", DE),
        write_lines(tmp_path / "a.en.gz", EN),
    )
    assert load_parallel_files(src, tgt)[2] == (DE[2], EN[2])


def test_plain_text_unequal_lengths(tmp_path: Path) -> None:
    src, tgt = (
        write_lines(tmp_path / "a.de", DE),
        write_lines(tmp_path / "a.en", EN + ["extra"]),
    )
    with pytest.raises(ValueError, match=r"a\.de has 3, .*a\.en has 4"):
        load_parallel_files(src, tgt)


def test_plain_text_needs_two_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a second file"):
        load_parallel_files(write_lines(tmp_path / "a.txt", DE))


def test_tsv_keeps_empty_lines_for_encode_pairs_to_count(
    tmp_path: Path,
) -> None:
    path = write_lines(
        tmp_path / "a.tsv",
        [f"{d}\t{e}" for d, e in zip(DE, EN)] + ["", "nur Quelle\t"],
    )
    pairs = load_parallel_files(path)
    assert pairs[:3] == [(d.strip(), e) for d, e in zip(DE, EN)]
    assert pairs[3:] == [("", ""), ("nur Quelle", "")]


def test_tsv_chosen_columns(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.tsv", [f"1\t{d}\t{e}" for d, e in zip(DE, EN)]
    )
    assert load_parallel_files(path, fields=(2, 1))[0] == (EN[0], DE[0])


def test_tsv_too_few_columns_names_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.tsv", [f"{DE[0]}\t{EN[0]}", "no tab here"]
    )
    with pytest.raises(
        ValueError,
        match=r"a\.tsv, line 2: expected at least 2 tab-separated columns",
    ):
        load_parallel_files(path)


@pytest.mark.parametrize("nested", [False, True])
def test_jsonl_flat_or_nested(tmp_path: Path, nested: bool) -> None:
    rows = WMT_ROWS if nested else [r["translation"] for r in WMT_ROWS]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    assert load_parallel_files(path, fields=("de", "en"))[0] == (DE[0], EN[0])


@pytest.mark.parametrize("nested", [False, True])
def test_jsonl_default_fields_are_the_two_keys_in_written_order(
    tmp_path: Path, nested: bool
) -> None:
    rows = [{"en": e, "de": d} for d, e in zip(DE, EN)]
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [{"translation": r} for r in rows] if nested else rows,
    )
    assert load_parallel_files(path)[0] == (EN[0], DE[0])


def test_jsonl_ambiguous_keys_need_fields(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": 1, "de": "x", "en": "y"}])
    with pytest.raises(
        ValueError,
        match=r"cannot guess .*\['id', 'de', 'en'\].*fields=\('de', 'en'\)",
    ):
        load_parallel_files(path)
    assert load_parallel_files(path, fields=("de", "en")) == [("x", "y")]


def test_jsonl_missing_key_names_record(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl", [{"de": "x", "en": "y"}, {"de": "x"}]
    )
    with pytest.raises(
        ValueError,
        match=r"record 2 has no 'de' and 'en' fields \(it has \['de'\]\)",
    ):
        load_parallel_files(path, fields=("de", "en"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Corpus file not found"):
        load_parallel_files(tmp_path / "nope.tsv")


def test_corpus_files_that_are_not_what_they_say_are_named_with_the_fix(
    tmp_path: Path,
) -> None:
    import gzip

    from transformer.data.corpus import read_lines

    plain = tmp_path / "train.de.gz"
    plain.write_text("not compressed\n")
    with pytest.raises(
        ValueError,
        match=r"train.de.gz is named .gz but is not gzip-compressed",
    ):
        read_lines(plain)
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(
        gzip.compress(
            "".join(f"line {i} {i * i}\n" for i in range(5000)).encode()
        )[:-200]
    )
    with pytest.raises(ValueError, match=r"cut.gz is truncated"):
        read_lines(truncated)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"fine\nalso fine\ncaf\xe9 au lait\n")
    with pytest.raises(
        ValueError, match=r"latin.txt, line 3 \(byte b'\\xe9'.*not UTF-8"
    ):
        read_lines(latin)
