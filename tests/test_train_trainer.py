"""The training loop (§5): exact resume, the schedule per optimizer step, NaN
stop, SIGINT, metrics, DDP."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from transformer.train import (
    RunConfig,
    Trainer,
    TrainingDivergedError,
    transformer_lr,
)
from transformer.train.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_model,
)
from transformer.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "numbers-cpu.toml"


def small_config(out_dir: Path | str, *overrides: str) -> RunConfig:
    """The numbers task on a very small model: a few hundred milliseconds per
    10 steps."""
    base = [
        "data.train_size=600",
        f"train.out_dir={json.dumps(str(out_dir))}",
        "train.progress=false",
        "model.d_model=32",
        "model.d_ff=64",
        "model.n_heads=2",
        "model.n_layers=1",
        "train.max_tokens=256",
        "train.grad_accum=2",
        "train.warmup_steps=10",
        "train.log_every=5",
        "train.eval_every=0",
        "train.eval_sentences=0",
        "train.save_every=10",
        "train.keep_last=5",
    ]
    return RunConfig.from_toml(CONFIG, base + list(overrides))


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_gives_identical_weights(tmp_path: Path) -> None:
    """20 steps straight = 10 steps, a new process state from the checkpoint,
    10 more steps.

    600 pairs make ~13 micro-batches an epoch, so with 2 per step the run
    crosses epoch boundaries and the resume happens mid-epoch; dropout is on.
    """
    straight = Trainer(small_config(tmp_path / "a", "train.max_steps=20"))
    straight.fit()
    assert straight.epoch >= 2
    first = Trainer(small_config(tmp_path / "b", "train.max_steps=10"))
    first.fit()
    del first
    # the resumed run must not depend on the process's random state
    torch.manual_seed(1234)
    resumed = Trainer(
        small_config(tmp_path / "b", "train.max_steps=20", "train.resume=true")
    )
    assert resumed.step == 10
    resumed.fit()
    a, b = weights(straight.model), weights(resumed.model)
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)
    assert [
        r["loss"]
        for r in read_metrics(tmp_path / "b" / "metrics.jsonl", "train")
    ] == [
        r["loss"]
        for r in read_metrics(tmp_path / "a" / "metrics.jsonl", "train")
    ]


def test_resume_from_an_older_checkpoint_drops_the_metrics_written_after_it(
    tmp_path: Path,
) -> None:
    """A crash after step 10 but before the step-20 checkpoint: the resumed run
    re-logs 15 and 20 once."""
    Trainer(small_config(tmp_path, "train.max_steps=20")).fit()
    # as if the run died before saving step 20
    shutil.rmtree(latest_checkpoint(tmp_path / "checkpoints"))
    resumed = Trainer(
        small_config(tmp_path, "train.max_steps=20", "train.resume=true")
    )
    assert resumed.step == 10
    resumed.fit()
    steps = [
        r["step"] for r in read_metrics(tmp_path / "metrics.jsonl", "train")
    ]
    assert steps == [5, 10, 15, 20]


def test_schedule_advances_once_per_optimizer_step_not_per_micro_batch(
    tmp_path: Path,
) -> None:
    trainer = Trainer(
        small_config(
            tmp_path,
            "train.max_steps=5",
            "train.grad_accum=3",
            "train.log_every=1",
        )
    )
    trainer.fit()
    assert trainer.schedule.last_step == 5 and trainer.step == 5
    lrs = [r["lr"] for r in trainer.history if r["split"] == "train"]
    assert lrs == [
        transformer_lr(s, 32, warmup_steps=10, scale=0.5) for s in range(1, 6)
    ]
    # 3 micro-batches a step
    assert trainer.batch_in_epoch + trainer.epoch * len(trainer.sampler) == 15


def test_metrics_jsonl_run_json_and_keep_last(tmp_path: Path) -> None:
    trainer = Trainer(
        small_config(
            tmp_path,
            "train.max_steps=20",
            "train.save_every=5",
            "train.keep_last=2",
            "train.eval_every=10",
        )
    )
    history = trainer.fit()
    assert read_metrics(tmp_path / "metrics.jsonl") == history
    train = [r for r in history if r["split"] == "train"]
    assert [r["step"] for r in train] == [5, 10, 15, 20]
    for key in (
        "loss",
        "nll",
        "ppl",
        "lr",
        "tokens_per_s",
        "grad_norm",
        "gpu_mem_gb",
        "elapsed_s",
    ):
        assert key in train[0]
    assert train[-1]["loss"] < train[0]["loss"]
    assert [r["step"] for r in history if r["split"] == "val"] == [10, 20]
    info = json.loads((tmp_path / "run.json").read_text())
    assert (
        info["final_step"] == 20
        and info["wall_time_s"] > 0
        and "torch" in info["versions"]
    )
    assert info["config"]["train"]["max_steps"] == 20
    # on the CPU attention is computed in float32 whatever the autocast
    assert info["attention_precision"] == "float32"
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == [
        "step_00000015",
        "step_00000020",
    ]
    assert not trainer.model.training


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(
    tmp_path: Path,
) -> None:
    def poison(trainer: Trainer) -> None:
        if trainer.step == 10:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))

    trainer = Trainer(
        small_config(tmp_path, "train.max_steps=20"), callbacks=(poison,)
    )
    with pytest.raises(
        TrainingDivergedError,
        match=r"loss became nan at step 11.*step_00000010, is untouched",
    ):
        trainer.fit()
    last = latest_checkpoint(tmp_path / "checkpoints")
    assert last.name == "step_00000010"
    model = load_model(last)  # verified against its manifest
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # handlers restored
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigint_saves_a_checkpoint_and_stops(tmp_path: Path) -> None:
    def interrupt(trainer: Trainer) -> None:
        if trainer.step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = Trainer(
        small_config(tmp_path, "train.max_steps=50"), callbacks=(interrupt,)
    )
    trainer.fit()  # returns instead of raising KeyboardInterrupt
    # the step in flight completes
    assert trainer.interrupted and trainer.step == 4
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step_00000004"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    resumed = Trainer(
        small_config(tmp_path, "train.max_steps=6", "train.resume=true")
    )
    assert resumed.step == 4


def test_in_memory_training_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    trainer = Trainer(small_config("", "train.max_steps=3"))
    assert len(trainer.fit()) >= 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None,
    reason="no torchrun",
)
def test_ddp_two_processes_match_one_process_with_the_same_global_batch(
    tmp_path: Path,
) -> None:
    """torchrun --nproc_per_node=2 (gloo, CPU) with 1 micro-batch each = 1
    process with 2 micro-batches.

    Each rank takes every 2nd batch of the same global list, so both runs see
    the same batches; with dropout off they differ only by floating-point
    summation order.
    """
    common = [
        "--no-progress",
        "--set",
        "train.max_steps=20",
        "--set",
        "model.dropout=0.0",
        "--set",
        "train.precision='fp32'",
        "--set",
        "train.log_every=5",
        "--set",
        "train.eval_sentences=0",
        "--set",
        "train.save_every=10",
    ]
    torchrun = str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(
        [
            torchrun,
            "--nproc_per_node=2",
            "-m",
            "transformer",
            "train",
            str(CONFIG),
            "--out-dir",
            str(tmp_path / "ddp"),
            *common,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = subprocess.run(
        [
            sys.executable,
            "-m",
            "transformer",
            "train",
            str(CONFIG),
            "--out-dir",
            str(tmp_path / "one"),
            *common,
            "--set",
            "train.grad_accum=2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    a, b = (
        read_metrics(tmp_path / "ddp" / "metrics.jsonl"),
        read_metrics(tmp_path / "one" / "metrics.jsonl"),
    )
    # rank 0 logged once
    assert [(r["split"], r["step"]) for r in a] == [
        (r["split"], r["step"]) for r in b
    ]
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-4)
    assert x["loss"] < a[0]["loss"]  # and it learned
    assert ddp.stdout.count("trained 20 steps") == 1  # only rank 0 reports
    m1 = load_model(latest_checkpoint(tmp_path / "ddp" / "checkpoints"))
    m2 = load_model(latest_checkpoint(tmp_path / "one" / "checkpoints"))
    for (name, p1), p2 in zip(
        m1.state_dict().items(), m2.state_dict().values()
    ):
        torch.testing.assert_close(p1, p2, rtol=1e-3, atol=1e-4, msg=name)
    assert [
        p.name for p in list_checkpoints(tmp_path / "ddp" / "checkpoints")
    ] == ["step_00000010", "step_00000020"]


def test_fused_loss_trains_exactly_like_logits_then_loss(
    tmp_path: Path,
) -> None:
    """train.fused_loss changes how the loss is computed, not what is learned
    (fp32, same seed)."""
    runs = []
    for fused in ("true", "false"):
        trainer = Trainer(
            small_config(
                "",
                "train.max_steps=6",
                "train.precision='fp32'",
                f"train.fused_loss={fused}",
            )
        )
        runs.append((trainer.fit(), weights(trainer.model)))
    (a, wa), (b, wb) = runs
    assert [r["loss"] for r in a] == pytest.approx(
        [r["loss"] for r in b], rel=1e-5
    )
    for name in wa:
        if name.endswith("w_k.bias"):
            # softmax(q·(k + b)) does not depend on the key bias b: its true
            # gradient is 0, so what either run computes is rounding noise,
            # which Adam scales up to full-size steps. Nothing to compare.
            continue
        torch.testing.assert_close(
            wa[name], wb[name], rtol=1e-4, atol=1e-5, msg=name
        )


def test_a_killed_segment_is_recorded_in_run_json(tmp_path: Path) -> None:
    """run.json is written when a segment starts and again when it ends: a
    process killed in between (simulated by an exception no handler sees)
    leaves a record that the resumed run keeps as "killed"."""

    def die_at_step_7(trainer: Trainer) -> None:
        if trainer.step == 7:
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        Trainer(
            small_config(tmp_path, "train.max_steps=20", "train.save_every=5"),
            callbacks=(die_at_step_7,),
        ).fit()
    assert (
        json.loads((tmp_path / "run.json").read_text())["status"] == "running"
    )
    trainer = Trainer(
        small_config(
            tmp_path,
            "train.max_steps=20",
            "train.save_every=5",
            "train.resume=true",
        )
    )
    trainer.fit()
    info = json.loads((tmp_path / "run.json").read_text())
    assert (info["status"], info["start_step"], info["final_step"]) == (
        "finished",
        5,
        20,
    )
    (killed,) = info["earlier_segments"]
    assert killed["status"].startswith("killed") and killed["start_step"] == 0


@pytest.mark.parametrize("masks", ["auto", "bits", "torch"])
def test_dropout_masks_setting_reaches_every_dropout(masks: str) -> None:
    """train.dropout_masks picks the sampler of every dropout module ("auto":
    bits on the CPU); a run with bits masks trains and repeats itself."""
    from transformer.dropout import Dropout

    def run() -> tuple[Trainer, list[float]]:
        trainer = Trainer(
            small_config(
                "",
                "train.max_steps=10",
                "model.dropout=0.1",
                f"train.dropout_masks='{masks}'",
            )
        )
        return trainer, [r["loss"] for r in trainer.fit() if "loss" in r]

    trainer, losses = run()
    flags = {m.bits for m in trainer.model.modules() if isinstance(m, Dropout)}
    assert flags == {masks != "torch"}
    assert losses and all(math.isfinite(x) for x in losses)
    assert run()[1] == losses
