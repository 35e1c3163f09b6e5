"""Nothing a user types loses a run: one run per folder, a lock against a
second writer, averages that never replace what they did not write, and resumes
that refuse to continue a different run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from transformer.cli import main
from transformer.train import RunConfig, Trainer
from transformer.train.checkpoint import list_checkpoints
from transformer.train.run_dir import LOCK, RunDirError

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "numbers-cpu.toml"
TINY = [
    "--no-progress",
    "--set",
    "train.save_every=5",
    "--set",
    "train.eval_sentences=0",
    "--set",
    "model.d_model=32",
    "--set",
    "model.d_ff=64",
    "--set",
    "model.n_layers=1",
    "--set",
    "data.train_size=300",
]


def train(out: Path, *extra: str) -> int:
    return main(
        [
            "train",
            str(CONFIG),
            "--out-dir",
            str(out),
            "--max-steps",
            "10",
            *TINY,
            *extra,
        ]
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    assert train(out) == 0
    return out


def test_average_never_replaces_a_run_or_an_unrelated_folder(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(run)
    mine = tmp_path / "mydocs"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    for target in (run, mine):
        assert (
            main(
                [
                    "average",
                    "--run-dir",
                    str(run),
                    "--last",
                    "2",
                    "--output",
                    str(target),
                ]
            )
            == 2
        )
        assert "already exists" in capsys.readouterr().err
        assert (
            main(
                [
                    "average",
                    "--run-dir",
                    str(run),
                    "--last",
                    "2",
                    "--output",
                    str(target),
                    "--overwrite",
                ]
            )
            == 2
        )
        assert "refusing to replace it" in capsys.readouterr().err
    assert (
        snapshot(run) == before
        and (mine / "thesis.tex").read_text() == "years of work"
    )


def test_average_never_writes_something_named_like_a_training_checkpoint(
    run: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(run)
    for name in ("step_00000010", "step_00000099"):
        assert (
            main(
                [
                    "average",
                    "--run-dir",
                    str(run),
                    "--last",
                    "2",
                    "--output",
                    str(run / "checkpoints" / name),
                ]
            )
            == 2
        )
        assert "named like a training checkpoint" in capsys.readouterr().err
    assert snapshot(run) == before


def test_average_replaces_an_earlier_average_only_when_asked(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "averaged"
    assert (
        main(
            [
                "average",
                "--run-dir",
                str(run),
                "--last",
                "2",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "average",
                "--run-dir",
                str(run),
                "--last",
                "1",
                "--output",
                str(out),
            ]
        )
        == 2
    )
    assert "--overwrite this earlier average" in capsys.readouterr().err
    assert (
        main(
            [
                "average",
                "--run-dir",
                str(run),
                "--last",
                "1",
                "--output",
                str(out),
                "--overwrite",
            ]
        )
        == 0
    )


def test_training_into_a_folder_that_holds_a_run_is_refused_without_resume_or_overwrite(
    run: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(run)
    assert train(run) == 2
    err = capsys.readouterr().err
    assert (
        "already holds a run" in err
        and "--resume" in err
        and "--overwrite" in err
    )
    assert snapshot(run) == before
    assert train(run, "--resume", "--overwrite") == 2
    assert "exclude each other" in capsys.readouterr().err


def test_overwrite_starts_over_and_keeps_files_that_are_not_the_runs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    assert train(out) == 0
    (out / "notes.md").write_text("my notes")
    assert train(out, "--overwrite", "--max-steps", "5") == 0
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == [
        "step_00000005"
    ]
    steps = [
        json.loads(line)["step"]
        for line in (out / "metrics.jsonl").read_text().splitlines()
    ]
    assert max(steps) == 5  # only the new run's records
    assert (out / "notes.md").read_text() == "my notes"


def test_a_second_writer_is_kept_out_and_a_dead_owner_leaves_the_folder_free(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, json, os, sys, time\nfd ="
                f" os.open({str(out / LOCK)!r}, os.O_CREAT |"
                " os.O_RDWR)\nfcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd,"
                " json.dumps({'pid': os.getpid(), 'host':"
                " os.uname().nodename}).encode())\nprint('locked',"
                " flush=True)\ntime.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    config = RunConfig.from_toml(
        CONFIG,
        [
            f"train.out_dir={json.dumps(str(out))}",
            "train.progress=false",
            "train.max_steps=2",
            "data.train_size=200",
            "train.eval_sentences=0",
        ],
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            RunDirError, match=rf"another training process \(pid {holder.pid}"
        ):
            Trainer(config)
    finally:
        # killed: the kernel frees its lock, though the file stays
        holder.kill()
        holder.wait()
    assert (out / LOCK).exists()
    Trainer(config).fit()
    probe = os.open(out / LOCK, os.O_RDWR)
    try:
        import fcntl

        # free again once the run is complete
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)


@pytest.mark.parametrize(
    "change,key",
    [
        ("train.seed=1", "train.seed"),
        ("model.d_ff=128", "model.d_ff"),
        ("train.lr_scale=2.0", "train.lr_scale"),
    ],
)
def test_resume_refuses_a_config_that_would_continue_a_different_run(
    tmp_path: Path, change: str, key: str, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    assert train(out) == 0
    before = snapshot(out)
    assert train(out, "--resume", "--max-steps", "15", "--set", change) == 2
    assert "cannot resume" in (err := capsys.readouterr().err) and key in err
    assert snapshot(out) == before
    # How it logs may change, and spelling out what the model already is
    # changes nothing:
    assert (
        train(
            out,
            "--resume",
            "--max-steps",
            "15",
            "--set",
            "train.log_every=3",
            "--set",
            "model.norm_first=false",
        )
        == 0
    )


def test_resume_without_a_checkpoint_is_an_error_not_a_fresh_start(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    # e.g. killed during its first save
    (out / "checkpoints").mkdir(parents=True)
    (out / "metrics.jsonl").write_text(
        '{"split": "train", "step": 3, "loss": 1.0}\n'
    )
    assert train(out, "--resume") == 2
    assert "holds no complete checkpoint" in capsys.readouterr().err
    # nothing appended
    assert (out / "metrics.jsonl").read_text().count("\n") == 1


def test_resume_from_a_mistyped_folder_is_an_error_not_a_fresh_start(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert train(tmp_path / "runz", "--resume") == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "runz").exists()  # nothing created


def test_an_unwritable_folder_is_refused_before_training(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """(Tests run as root, which may write anywhere: the refusal of the file
    system is simulated.)"""
    out = tmp_path / "readonly"
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(out)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    assert train(out) == 2
    assert "cannot write into" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


def test_an_average_into_an_unwritable_folder_is_an_error_not_a_traceback(
    run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    import transformer.train.average as average

    def refuse(*args, **kwargs):
        raise PermissionError(
            13, "Permission denied", str(tmp_path / "ro" / "avg")
        )

    # the writer averaging calls (a plain state dict, no model)
    monkeypatch.setattr(average, "write_checkpoint", refuse)
    assert (
        main(
            [
                "average",
                "--run-dir",
                str(run),
                "--last",
                "2",
                "--output",
                str(tmp_path / "ro" / "avg"),
            ]
        )
        == 2
    )
    assert "permission denied" in capsys.readouterr().err
