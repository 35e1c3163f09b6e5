"""``python -m transformer train | translate | evaluate | average``, and the
number task end to end."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sacrebleu
import torch

from transformer import ModelConfig, Transformer
from transformer.cli import main
from transformer.train import RunConfig, Trainer
from transformer.train.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "numbers-cpu.toml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A briefly trained numbers model (not accurate; for the plumbing)."""
    out = tmp_path_factory.mktemp("run")
    config = RunConfig.from_toml(
        CONFIG,
        [
            f"train.out_dir={json.dumps(str(out))}",
            "train.progress=false",
            "train.max_steps=10",
            "train.save_every=5",
            "train.eval_sentences=0",
            "model.d_model=32",
            "model.d_ff=64",
            "model.n_layers=1",
            "data.train_size=500",
        ],
    )
    Trainer(config).fit()
    return out


@pytest.mark.parametrize(
    "command,options",
    [
        (
            "train",
            [
                "--set",
                "--out-dir",
                "--resume",
                "--overwrite",
                "--max-steps",
                "--no-progress",
                "config",
            ],
        ),
        (
            "translate",
            [
                "--model",
                "--beam-size",
                "--alpha",
                "--greedy",
                "--extra-len",
                "--batch-size",
                "--device",
                "stdin",
            ],
        ),
        (
            "evaluate",
            [
                "--model",
                "--split",
                "--limit",
                "--hyp",
                "--ref",
                "--json",
                "--output",
                "--beam-size",
            ],
        ),
        ("export", ["--model", "--output", "--dtype", "--overwrite"]),
        ("average", ["--run-dir", "--last", "--output", "checkpoints"]),
    ],
)
def test_every_command_explains_its_options(
    command: str, options: list[str], capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in options:
        assert option in text


def test_evaluate_files_prints_sacrebleu_scores_and_signature(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    hyps = ["the cat sat on the mat", "a dog runs in the park today"]
    refs = ["The cat sat on the mat.", "A dog is running in the park today."]
    (tmp_path / "h.txt").write_text("\n".join(hyps) + "\n")
    (tmp_path / "r.txt").write_text("\n".join(refs) + "\n")
    assert (
        main(
            [
                "evaluate",
                "--hyp",
                str(tmp_path / "h.txt"),
                "--ref",
                str(tmp_path / "r.txt"),
                "--json",
            ]
        )
        == 0
    )
    scores = json.loads(capsys.readouterr().out)
    assert scores["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs]).score
    )
    assert scores["chrf"] == pytest.approx(
        sacrebleu.corpus_chrf(hyps, [refs]).score
    )
    assert scores["bleu_lc"] == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs], lowercase=True).score
    )
    assert "tok:13a" in scores["bleu_signature"]
    assert (
        main(
            [
                "evaluate",
                "--hyp",
                str(tmp_path / "h.txt"),
                "--ref",
                str(tmp_path / "r.txt"),
            ]
        )
        == 0
    )
    assert "BLEU = " in capsys.readouterr().out


def test_train_rejects_an_unknown_key(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", str(CONFIG), "--set", "train.warmup=3"]) == 2
    assert "unknown key 'train.warmup'" in capsys.readouterr().err


def test_train_offline_without_local_data_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from transformer.data import hub

    for name in ("MULTI30K_DIR", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        hub, "hub_reachable", lambda timeout=hub.PROBE_TIMEOUT_S: False
    )
    assert (
        main(
            [
                "train",
                str(CONFIG),
                "--set",
                "data.task=multi30k",
                "--set",
                "data.tokenizer=bpe",
                "--no-progress",
                "--out-dir",
                "",
            ]
        )
        == 2
    )
    assert "MULTI30K_DIR" in capsys.readouterr().err


def test_translate_without_tokenizer_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    save_checkpoint(
        tmp_path / "c", Transformer(ModelConfig.tiny(vocab_size=20))
    )
    assert main(["translate", "--model", str(tmp_path / "c"), "one"]) == 2
    assert "has no tokenizer.json" in capsys.readouterr().err


def test_translate_from_arguments_and_stdin(
    run_dir: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    assert (
        main(
            ["translate", "--model", str(run_dir), "forty five", "one hundred"]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("forty five\none hundred\n"))
    assert (
        main(
            [
                "translate",
                "--model",
                str(run_dir / "checkpoints" / "step_00000010"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == lines


def test_evaluate_a_split_and_average(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(run_dir),
                "--split",
                "val",
                "--limit",
                "5",
                "--greedy",
                "--json",
                "--output",
                str(tmp_path / "hyps.txt"),
            ]
        )
        == 0
    )
    scores = json.loads(capsys.readouterr().out)
    assert scores["n_sentences"] == 5 and 0 <= scores["exact_match"] <= 1
    assert len((tmp_path / "hyps.txt").read_text().splitlines()) == 5
    assert (
        main(
            [
                "average",
                "--run-dir",
                str(run_dir),
                "--last",
                "2",
                "--output",
                str(tmp_path / "avg"),
            ]
        )
        == 0
    )
    assert (
        "averaged 2 checkpoints (step_00000005, step_00000010)"
        in capsys.readouterr().out
    )
    assert (
        main(["translate", "--model", str(tmp_path / "avg"), "forty five"])
        == 0
    )
    assert (
        main(
            [
                "average",
                "--run-dir",
                str(run_dir),
                "--last",
                "9",
                "--output",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )


@pytest.mark.parametrize("last", ["0", "-1"])
def test_average_rejects_a_last_below_one(
    run_dir: Path, tmp_path: Path, last: str, capsys: pytest.CaptureFixture
) -> None:
    # found[-0:] is every checkpoint and found[1:] all but the oldest: neither
    # is "the last N".
    assert (
        main(
            [
                "average",
                "--run-dir",
                str(run_dir),
                "--last",
                last,
                "--output",
                str(tmp_path / "avg"),
            ]
        )
        == 2
    )
    assert "--last must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "avg").exists()


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("--beam-size", "0", "beam_size must be >= 1"),
        ("--batch-size", "0", "batch_size must be >= 1"),
    ],
)
def test_translate_rejects_sizes_below_one(
    run_dir: Path,
    option: str,
    value: str,
    message: str,
    capsys: pytest.CaptureFixture,
) -> None:
    assert (
        main(
            ["translate", "--model", str(run_dir), option, value, "forty five"]
        )
        == 2
    )
    assert message in capsys.readouterr().err


def test_translate_names_a_bad_device(
    run_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        main(
            [
                "translate",
                "--model",
                str(run_dir),
                "--device",
                "gpu",
                "forty five",
            ]
        )
        == 2
    )
    assert "unknown device 'gpu'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert (
            main(
                [
                    "translate",
                    "--model",
                    str(run_dir),
                    "--device",
                    "cuda",
                    "forty five",
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        # the option is --device here
        assert "CUDA is not available" in err and "train.device" not in err


def test_evaluate_rejects_a_negative_limit(
    run_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    # pairs[:-3] would silently score all but the last three pairs.
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(run_dir),
                "--split",
                "val",
                "--limit",
                "-3",
                "--greedy",
            ]
        )
        == 2
    )
    assert "--limit must be >= 0" in capsys.readouterr().err


@pytest.mark.slow
def test_number_task_end_to_end_from_the_cli(tmp_path: Path) -> None:
    """The CPU config trains to >= 99% exact match on held-out numbers;
    translate gets inputs right."""

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "transformer", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    start = time.perf_counter()
    trained = run(
        "train", str(CONFIG), "--out-dir", str(tmp_path), "--no-progress"
    )
    wall = time.perf_counter() - start
    print(f"\n{trained.stdout}train wall time (with start-up): {wall:.1f} s")
    scores = json.loads(
        run(
            "evaluate", "--model", str(tmp_path), "--split", "test", "--json"
        ).stdout
    )
    print(scores)
    assert scores["n_sentences"] == 100 and scores["exact_match"] >= 0.99
    inputs = [
        "forty five",
        "three hundred twelve",
        "nine hundred ninety nine",
        "seventy one",
        "eight",
    ]
    expected = [
        "fünf und vierzig",
        "drei hundert zwölf",
        "neun hundert neun und neunzig",
        "ein und siebzig",
        "acht",
    ]
    assert (
        run("translate", "--model", str(tmp_path), *inputs).stdout.splitlines()
        == expected
    )


def test_export_writes_fp16_weights_that_translate_like_the_fp32_model(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from safetensors.torch import load_file

    from transformer.pretrained import load_translator
    from transformer.train.checkpoint import latest_checkpoint, load_model

    source = latest_checkpoint(run_dir / "checkpoints")
    out = tmp_path / "shipped"
    assert main(["export", "--model", str(source), "--output", str(out)]) == 0
    assert "exported" in capsys.readouterr().out
    assert {
        t.dtype for t in load_file(str(out / "model.safetensors")).values()
    } == {torch.float16}
    assert (
        not (out / "optimizer.safetensors").exists()
        and not (out / "rng.safetensors").exists()
    )
    fp32, fp16 = load_model(source), load_model(out)
    for (name, a), b in zip(
        fp32.state_dict().items(), fp16.state_dict().values()
    ):
        assert b.dtype == torch.float32  # loaded back as float32
        torch.testing.assert_close(
            b, a.half().float(), rtol=0, atol=0, msg=name
        )
    translator = load_translator(out)
    sentences = ["forty five", "three hundred twelve", "nine"]
    assert translator.translate(sentences, beam_size=1) == load_translator(
        source
    ).translate(sentences, beam_size=1)
    assert isinstance(translator.translate("nine"), str)
    with pytest.raises(TypeError, match="unknown decoding option"):
        translator.translate("nine", beam=2)


def test_export_never_replaces_a_folder_that_is_not_an_export(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from transformer.train.checkpoint import latest_checkpoint

    source = latest_checkpoint(run_dir / "checkpoints")
    mine = tmp_path / "mydocs"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["export", "--model", str(source), "--output", str(mine)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                "--model",
                str(source),
                "--output",
                str(mine),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "not an exported model" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"
    out = tmp_path / "shipped"
    assert main(["export", "--model", str(source), "--output", str(out)]) == 0
    assert (
        main(
            [
                "export",
                "--model",
                str(source),
                "--output",
                str(out),
                "--overwrite",
                "--dtype",
                "fp32",
            ]
        )
        == 0
    )


def test_translate_says_when_an_input_is_empty_or_cut(
    run_dir: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.StringIO("forty five\n\n   \n" + "nine " * 400 + "\n")
    )
    assert main(["translate", "--model", str(run_dir), "--greedy"]) == 0
    captured = capsys.readouterr()
    out = captured.out.split("\n")[:-1]
    # empty inputs give empty lines, nothing invented
    assert len(out) == 4 and out[1] == "" and out[2] == ""
    assert (
        "input 2 is empty" in captured.err
        and "input 3 is empty" in captured.err
    )
    assert "input 4 has 400 tokens; only its first" in captured.err


def test_text_that_is_not_utf8_names_its_file_or_input(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_bytes(b"one\ntw\xff\n")
    ref.write_text("one\ntwo\n")
    assert main(["evaluate", "--hyp", str(hyp), "--ref", str(ref)]) == 2
    assert "hyp.txt, line 2" in capsys.readouterr().err
    # how Python hands over a \xff byte
    monkeypatch.setattr(sys, "stdin", io.StringIO("forty \udcff five\n"))
    assert main(["translate", "--model", str(run_dir)]) == 2
    assert "input 1 is not UTF-8 text" in capsys.readouterr().err


def test_a_corrupt_newest_checkpoint_names_the_newest_intact_one(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    newest = run / "checkpoints" / "step_00000010"
    (newest / "model.safetensors").write_bytes(b"garbage")
    assert main(["translate", "--model", str(run), "nine"]) == 2
    err = capsys.readouterr().err
    assert (
        "step_00000010" in err
        and "newest intact checkpoint of this run is" in err
        and "step_00000005" in err
    )
    assert (
        main(
            [
                "translate",
                "--model",
                str(run / "checkpoints" / "step_00000005"),
                "nine",
            ]
        )
        == 0
    )
