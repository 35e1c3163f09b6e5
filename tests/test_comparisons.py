"""The trained comparisons of the before/after-the-paper chapters
(transformer/comparisons.py) and scripts/compare.py, which trains and records
them."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from transformer import ModelConfig
from transformer.comparisons import (
    matching_layers,
    parameters,
    recorded_variant,
    train_command,
    variants,
)
from transformer.results import RecordedRun
from transformer.train.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
# the base of configs/table3-cpu.toml
BASE = ModelConfig.small(8000, d_model=128, n_heads=8, d_ff=512)


def test_the_rows_and_their_changes() -> None:
    rows = {v.name: v for v in variants(BASE)}
    assert list(rows) == [
        "base",
        "decoder-only",
        "prefix-lm",
        "modern",
        "pre-norm",
        "rmsnorm",
        "swiglu",
        "rope",
        "additive-dk16",
        "dot-dk16",
        "additive-dk64",
        "dot-dk64",
        "scaled-dot-dk64",
        "additive-dk128",
        "dot-dk128",
        "scaled-dot-dk128",
    ]
    modern = rows["modern"].config(BASE)
    assert (modern.norm_first, modern.norm, modern.activation) == (
        True,
        "rms",
        "swiglu",
    )
    assert modern.positional == "rope" and modern.ffn_hidden == 341
    dot = rows["dot-dk64"].config(BASE)
    assert (dot.attention_scoring, dot.n_heads, dot.head_dim_k) == (
        "dot",
        2,
        64,
    )
    assert train_command("c.toml", rows["prefix-lm"]) == [
        "python",
        "-m",
        "transformer",
        "train",
        "c.toml",
        "--out-dir",
        "runs/compare-prefix-lm",
        "--set",
        'model.architecture="prefix_lm"',
        "--set",
        "model.n_layers=7",
    ]


def test_every_row_but_additive_scoring_has_the_bases_parameter_count() -> (
    None
):
    """Equal size is what makes the comparisons fair; additive scoring adds
    its own h (2 d_k^2 + d_k) per attention layer."""
    base = parameters(BASE)
    assert base == 2_412_544
    for v in variants(BASE):
        n = parameters(v.config(BASE))
        if v.name.startswith("additive"):
            assert n > base
        else:
            assert abs(n - base) / base < 0.001, v.name


def test_one_stack_models_get_seven_thirds_of_n_layers() -> None:
    """An encoder layer holds 12 d^2 weights and a decoder layer 16 (d_ff = 4
    d): 3 x 12 + 3 x 16 = 7 x 12."""
    assert matching_layers(BASE, "decoder_only") == 7
    assert matching_layers(BASE, "prefix_lm") == 7
    assert matching_layers(BASE.__class__.base(8000), "decoder_only") == 14


def test_a_base_with_a_fixed_key_size_is_refused() -> None:
    with pytest.raises(ValueError, match="without an explicit d_k"):
        variants(ModelConfig.small(8000, d_k=32))


@pytest.mark.slow
def test_the_script_trains_and_records_a_row_on_val_and_test(
    tmp_path: Path,
) -> None:
    """scripts/compare.py run: trains the row (a tiny base on the numbers
    task), decodes validation and test from the last checkpoint, records
    both with its attention's measurements; a second call skips it; measure
    writes the measurements again; an unknown name is refused."""
    config = tmp_path / "tiny.toml"
    text = (ROOT / "configs" / "numbers-cpu.toml").read_text()
    text = text.replace('preset = "tiny"', 'preset = "tiny"\nn_layers = 3')
    text = text.replace("max_steps = 1000", "max_steps = 6")
    text = text.replace("eval_every = 250", "eval_every = 3")
    text = text.replace("save_every = 250", "save_every = 3")
    config.write_text(text)
    command = [
        sys.executable,
        str(ROOT / "scripts" / "compare.py"),
        "run",
        "prefix-lm",
        "--config",
        str(config),
        "--runs",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "results"),
        "--note",
        "a test",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "results" / "compare-prefix-lm"
    assert sorted(p.name for p in out.iterdir()) == [
        "attention-saturation.json",
        "attention-spectra.json",
        "eval-test.json",
        "eval-val.json",
        "hyps-test.txt",
        "hyps-val.txt",
        "metrics.jsonl",
        "record.json",
        "run.json",
    ]
    for split in ("val", "test"):
        evaluation = json.loads((out / f"eval-{split}.json").read_text())
        assert evaluation["model"]["steps"] == [6]
        assert (evaluation["beam_size"], evaluation["alpha"]) == (4, 0.6)
        hyps = (out / f"hyps-{split}.txt").read_text().splitlines()
        assert len(hyps) == evaluation["n_sentences"] == 100
    trained = json.loads((out / "run.json").read_text())
    assert trained["config"]["model"]["architecture"] == "prefix_lm"
    record = json.loads((out / "record.json").read_text())
    assert (record["comparison"], record["group"], record["note"]) == (
        "prefix-lm",
        "architecture",
        "a test",
    )
    assert record["parameters"] > 0
    spectra = json.loads((out / "attention-spectra.json").read_text())
    assert spectra["sentences"] == 100
    assert list(spectra["kinds"]) == [
        "prefix-LM self-attention",
        "prefix-LM source block",
    ]
    saturation = json.loads((out / "attention-saturation.json").read_text())
    assert saturation["sentences"] == 100
    measured = saturation["kinds"]["prefix-LM self-attention"]
    assert 0 < measured["largest_weight"] <= 1
    assert measured["rows"] > 0
    again = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert again.returncode == 0 and "skipping" in again.stdout
    # measured again from the checkpoint: the same numbers
    (out / "attention-saturation.json").unlink()
    remeasure = [*command[:2], "measure", *command[3:-2]]
    done = subprocess.run(
        remeasure, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "attention measured again" in done.stdout
    assert (
        json.loads((out / "attention-saturation.json").read_text())
        == saturation
    )
    unrecorded = subprocess.run(
        [*remeasure[:3], "rope", *remeasure[4:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert unrecorded.returncode != 0
    assert "train and record it first" in unrecorded.stderr
    assert "compare.py run rope" in unrecorded.stderr
    wrong = subprocess.run(
        [*command[:3], "encoder-only", *command[4:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert wrong.returncode != 0
    assert "no comparison named encoder-only" in wrong.stderr


def test_a_recorded_row_is_read_only_if_it_trained_as_its_name_says() -> None:
    cpu = RunConfig.from_toml(ROOT / "configs" / "table3-cpu.toml")
    rows = {v.name: v for v in variants(BASE)}
    config = copy.deepcopy(dataclasses.asdict(cpu))
    config["model"] = {**config["model"], "positional": "rope"}
    rope = RecordedRun(
        "compare-rope", Path("results/runs/compare-rope"), {"config": config}
    )
    assert recorded_variant({"compare-rope": rope}, rows["rope"], cpu) is rope
    assert recorded_variant({}, rows["rope"], cpu) is None  # not yet run
    # RoPE's run recorded under SwiGLU's name
    with pytest.raises(
        ValueError,
        match=r"is not the row 'swiglu'.*`python scripts/compare.py run"
        r" swiglu`",
    ):
        recorded_variant({"compare-swiglu": rope}, rows["swiglu"], cpu)
    # the right model, trained with another seed
    config["train"]["seed"] = 3
    with pytest.raises(ValueError, match=r"differing in \['seed'\]"):
        recorded_variant({"compare-rope": rope}, rows["rope"], cpu)
