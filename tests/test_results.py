"""transformer.results: reading recorded runs (results/runs/<name>/) for the
Results chapters."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from transformer.cli import main
from transformer.results import (
    RecordedRun,
    load_run,
    load_runs,
    summary_rows,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "numbers-cpu.toml"


def test_no_results_folder_means_no_runs(tmp_path: Path) -> None:
    assert load_runs(tmp_path / "missing") == {}
    # no run.json: not a recorded run
    (tmp_path / "runs" / "half-copied").mkdir(parents=True)
    assert load_runs(tmp_path / "runs") == {}


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (
            {
                "hardware": {
                    "device": "cpu",
                    "cpu_count": 2,
                    "cpu": "Intel(R) Xeon(R) Processor",
                },
                "autocast": "bfloat16",
            },
            "2 CPU cores (Intel Xeon), bfloat16",
        ),
        (
            {
                "hardware": {
                    "device": "cpu",
                    "cpu_count": 2,
                    "cpu": "AMD EPYC",
                },
                "autocast": None,  # no bf16 instructions: float32
            },
            "2 CPU cores (AMD EPYC), float32",
        ),
        (
            {"hardware": {"device": "cuda:0", "name": "FAKE GPU"}},
            "1 × FAKE GPU, precision not recorded",
        ),
    ],
)
def test_a_run_says_where_and_in_which_precision_it_trained(
    info: dict, expected: str
) -> None:
    assert RecordedRun("r", Path("r"), info).trained_on() == expected


CPU = {"device": "cpu", "cpu_count": 2}


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (
            {"attention_precision": "float32", "autocast": "bfloat16"},
            "float32",
        ),
        ({"hardware": CPU, "autocast": None}, "float32"),
        # before the key existed: the fused path attended in float32 ...
        ({"hardware": CPU, "autocast": "bfloat16"}, "float32"),
        # ... the other scorings in the autocast dtype
        (
            {
                "hardware": CPU,
                "autocast": "bfloat16",
                "config": {"model": {"attention_scoring": "dot"}},
            },
            "bfloat16",
        ),
        (
            {"hardware": {"device": "cuda:0"}, "autocast": "bfloat16"},
            "bfloat16",
        ),
        ({"hardware": CPU}, None),  # autocast not recorded
        # resumed across the change: its segments differ
        (
            {
                "hardware": CPU,
                "attention_precision": "float32",
                "config": {"model": {"attention_scoring": "additive"}},
                "earlier_segments": [{"autocast": "bfloat16"}],
            },
            "mixed",
        ),
    ],
)
def test_a_run_says_in_which_precision_it_attended(
    info: dict, expected: str | None
) -> None:
    assert RecordedRun("r", Path("r"), info).attention_precision() == expected


def test_a_run_folder_without_run_json_is_a_clear_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(FileNotFoundError, match="run.json"):
        load_run(tmp_path)


def test_an_eval_file_that_is_not_evaluate_output_is_rejected(
    tmp_path: Path,
) -> None:
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "eval-test.json").write_text('{"score": 3}')
    with pytest.raises(ValueError, match="evaluate --json"):
        load_run(tmp_path)


def test_a_recorded_run_end_to_end(tmp_path: Path) -> None:
    """Train a few steps with the CLI, evaluate with --json, copy the files as
    results/README.md says, and read them back: the summary row holds the
    scores and their provenance."""
    out = tmp_path / "train-out"
    assert (
        main(
            [
                "train",
                str(CONFIG),
                "--out-dir",
                str(out),
                "--no-progress",
                "--max-steps",
                "4",
                "--set",
                "train.eval_every=2",
                "--set",
                "train.eval_sentences=0",
                "--set",
                "data.train_size=200",
            ]
        )
        == 0
    )
    eval_json = out / "eval-val.json"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert (
            main(
                [
                    "evaluate",
                    "--model",
                    str(out),
                    "--split",
                    "val",
                    "--limit",
                    "4",
                    "--greedy",
                    "--json",
                ]
            )
            == 0
        )
    eval_json.write_text(buffer.getvalue())
    recorded = tmp_path / "results" / "runs" / "numbers-smoke"
    recorded.mkdir(parents=True)
    for name in ("run.json", "metrics.jsonl", "eval-val.json"):
        shutil.copy(out / name, recorded / name)

    runs = load_runs(tmp_path / "results" / "runs")
    assert list(runs) == ["numbers-smoke"]
    run = runs["numbers-smoke"]
    assert [r["step"] for r in run.records("val")] == [2, 4]
    assert run.last_val()["step"] == 4
    assert set(run.evals) == {"val"}
    (row,) = summary_rows(runs.values(), split="val")
    scores = json.loads(eval_json.read_text())
    assert (
        row["run"] == "numbers-smoke"
        and row["task"] == "numbers"
        and row["direction"] == "en→de"
    )
    assert (
        row["bleu"] == scores["bleu"]
        and row["chrf"] == scores["chrf"]
        and row["sentences"] == 4
    )
    assert row["bleu_signature"].startswith("nrefs:1")
    assert row["val_ppl"] == pytest.approx(run.last_val()["ppl"])
    assert row["parameters"] > 0 and row["steps"] == 4 and row["seed"] == 0
    assert row["git_commit"] is None or len(row["git_commit"]) >= 40
    assert row["wall_time_s"] > 0 and row["command"] and row["started"]
    (no_test,) = summary_rows(runs.values(), split="test")
    # nothing recorded for that split: no number
    assert no_test["bleu"] is None


@pytest.mark.slow
def test_record_run_script_records_scores_hypotheses_ablation_and_ships_the_model(
    tmp_path: Path,
) -> None:
    """scripts/record_run.py on a tiny finished run: every file the Results
    chapter reads, the test split decoded once with the average chosen on
    validation, and the replayed token count equal to the trainer's own."""
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(CONFIG),
                "--out-dir",
                str(run_dir),
                "--no-progress",
                "--max-steps",
                "40",
                "--set",
                "train.save_every=10",
                "--set",
                "train.eval_sentences=0",
                "--set",
                "model.d_model=32",
                "--set",
                "model.d_ff=64",
                "--set",
                "model.n_layers=1",
                "--set",
                "data.train_size=500",
            ]
        )
        == 0
    )
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "record_run.py"),
            str(run_dir),
            "--name",
            "tiny",
            "--results",
            str(tmp_path / "results"),
            "--export",
            str(tmp_path / "model"),
            "--averages",
            "1,3",
            "--alphas",
            "0,0.6",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "results" / "tiny"
    run = load_run(out)
    assert (
        set(run.evals) == {"val", "test"}
        and run.evals["test"]["n_sentences"] == 100
    )
    record = json.loads((out / "record.json").read_text())
    assert (
        record["training"]["target_tokens"]
        == json.loads((run_dir / "run.json").read_text())["target_tokens"]
    )
    ablation = json.loads((out / "inference-ablation.json").read_text())
    assert ablation["split"] == "val" and ablation["chosen"][
        "checkpoints"
    ] in (1, 3)
    assert {
        (r["checkpoints"], r["beam_size"], r["alpha"], r["precision"])
        for r in ablation["rows"]
    } >= {
        (1, 4, 0.6, "fp32"),
        (3, 4, 0.6, "fp32"),
        (1, 1, 0.6, "fp32"),
        (ablation["chosen"]["checkpoints"], 4, 0.6, "bf16"),
    }
    assert len((out / "hyps-test.txt").read_text().splitlines()) == 100
    conventions = json.loads((out / "bleu-conventions-test.json").read_text())
    assert conventions["n_sentences"] == 100 and len(conventions["rows"]) == 8
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert "trained on" in done.stdout
