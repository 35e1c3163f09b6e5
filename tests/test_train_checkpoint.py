"""Checkpoints: safetensors without pickle, atomic writes, clear errors,
keep-last-K, averaging (§6.1)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from transformer import ModelConfig, Transformer
from transformer.train import build_optimizer
from transformer.train import checkpoint as ckpt
from transformer.train.average import average_checkpoints
from transformer.train.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_model,
    load_tokenizer,
    load_training_state,
    load_weights,
    prune_checkpoints,
    save_checkpoint,
)

V = 17


def tiny(**overrides: object) -> Transformer:
    return Transformer(ModelConfig.tiny(vocab_size=V, **overrides))


def trained_a_little(
    steps: int = 2,
) -> tuple[Transformer, torch.optim.Optimizer]:
    model = tiny()
    opt = build_optimizer(model)
    for g in opt.param_groups:
        g["lr"] = 1e-3
    src, tgt = torch.randint(3, V, (2, 5)), torch.randint(3, V, (2, 6))
    for _ in range(steps):
        opt.zero_grad()
        model(src, tgt).logsumexp(-1).mean().backward()
        opt.step()
    return model, opt


def tokenizer():
    from transformer.data.tokenizer import Tokenizer

    return Tokenizer.train_word_level(["one two three", "eins zwei drei"])


def assert_same_weights(a: Transformer, b: Transformer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0)


def test_round_trip_equal_weights_and_the_tie_survives(tmp_path: Path) -> None:
    model, _ = trained_a_little()
    path = save_checkpoint(
        tmp_path / "step_00000002", model, tokenizer=tokenizer()
    )
    loaded = load_model(path)
    assert_same_weights(model, loaded)
    # still one shared tensor
    assert loaded.src_embed.weight is loaded.tgt_embed.weight
    assert not loaded.training
    # Nothing pickled: only JSON and safetensors files.
    assert {p.suffix for p in path.iterdir()} <= {".json", ".safetensors"}
    assert load_tokenizer(path).encode("one two") == tokenizer().encode(
        "one two"
    )


def test_untied_model_round_trip(tmp_path: Path) -> None:
    model = tiny(share_embeddings=False, tie_output=False)
    assert_same_weights(
        model, load_model(save_checkpoint(tmp_path / "c", model))
    )


def test_optimizer_and_rng_state_round_trip_exactly(tmp_path: Path) -> None:
    model, opt = trained_a_little()
    path = save_checkpoint(
        tmp_path / "c", model, optimizer=opt, trainer_state={"step": 2}
    )
    expected = (torch.rand(3), random.random(), np.random.rand())
    model2 = tiny()
    load_weights(model2, path)
    opt2 = build_optimizer(model2)
    # also rewinds the random generators
    state = load_training_state(path, opt2)
    assert state == {"step": 2}
    again = (torch.rand(3), random.random(), np.random.rand())
    torch.testing.assert_close(again[0], expected[0])
    assert again[1:] == expected[1:]
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for pid in s1["state"]:
        for name in s1["state"][pid]:
            torch.testing.assert_close(
                s1["state"][pid][name], s2["state"][pid][name], rtol=0, atol=0
            )
    # One more identical step keeps them identical (dropout off: its draws are
    # not the point here).
    src, tgt = torch.randint(3, V, (2, 5)), torch.randint(3, V, (2, 6))
    for m, o in ((model.eval(), opt), (model2.eval(), opt2)):
        o.zero_grad()
        m(src, tgt).logsumexp(-1).mean().backward()
        o.step()
    assert_same_weights(model, model2)


def test_cuda_rng_states_are_restored_in_device_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keys "torch.cuda.10" < "torch.cuda.2" as strings: on 11+ GPUs a string
    # sort would shuffle the states.
    from transformer.train.state import rng_from_flat, rng_to_flat

    tensors, meta = rng_to_flat()
    n = 12
    for i in range(n):
        tensors[f"torch.cuda.{i}"] = torch.full((4,), i, dtype=torch.uint8)
    restored: list[torch.Tensor] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setattr(
        torch.cuda, "set_rng_state_all", lambda states: restored.extend(states)
    )
    rng_from_flat(tensors, meta)
    assert [int(t[0]) for t in restored] == list(range(n))


def test_failed_write_leaves_nothing_and_keeps_the_old_checkpoint(
    tmp_path: Path, monkeypatch
) -> None:
    model, opt = trained_a_little()
    path = save_checkpoint(tmp_path / "step_00000001", model)
    before = (path / ckpt.MODEL).read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "optimizer_to_flat", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, optimizer=opt)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "step_00000002", model, optimizer=opt)
    # no temporary debris
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000001"]
    assert (path / ckpt.MODEL).read_bytes() == before


def test_truncated_and_corrupt_files_are_named(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c", tiny())
    data = (path / ckpt.MODEL).read_bytes()
    (path / ckpt.MODEL).write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointError, match="model.safetensors is truncated"
    ):
        load_model(path)
    flipped = bytearray(data)
    flipped[-5] ^= 0xFF
    (path / ckpt.MODEL).write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt"):
        load_model(path)
    # unchecked: safetensors' own error, wrapped
    (path / ckpt.MODEL).write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="cannot read"):
        load_model(path, verify=False)


def test_incomplete_or_absent_checkpoint(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c", tiny())
    (path / ckpt.MANIFEST).unlink()
    with pytest.raises(CheckpointError, match="manifest.json is missing"):
        load_model(path)
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_model(tmp_path / "nowhere")


def test_config_mismatch_names_the_fields(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c", tiny())
    with pytest.raises(
        CheckpointError,
        match=r"different model config \(d_model: checkpoint 64 vs model 32",
    ):
        load_weights(tiny(d_model=32), path)


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c", tiny())
    with pytest.raises(CheckpointError, match="has no tokenizer.json"):
        load_tokenizer(path)


def test_resume_needs_optimizer_state(tmp_path: Path) -> None:
    model = tiny()
    path = save_checkpoint(tmp_path / "c", model)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_training_state(path, build_optimizer(model))


def test_keep_last_k_and_listing(tmp_path: Path) -> None:
    model = tiny()
    for step in (1, 2, 10, 3):
        save_checkpoint(
            tmp_path / ckpt.checkpoint_name(step), model, save_rng=False
        )
    # a crashed write is never listed
    (tmp_path / ".step_00000011.tmp-123").mkdir()
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step_00000001",
        "step_00000002",
        "step_00000003",
        "step_00000010",
    ]
    deleted = prune_checkpoints(tmp_path, keep_last=2)
    assert [p.name for p in deleted] == ["step_00000001", "step_00000002"]
    assert latest_checkpoint(tmp_path).name == "step_00000010"
    assert latest_checkpoint(tmp_path / "empty") is None


def test_average_is_the_mean_of_the_weights(tmp_path: Path) -> None:
    # three different random initialisations
    models = [tiny() for _ in range(3)]
    paths = [
        save_checkpoint(tmp_path / f"step_{i}", m, tokenizer=tokenizer())
        for i, m in enumerate(models)
    ]
    out = average_checkpoints(paths, tmp_path / "averaged")
    avg = load_model(out)
    for name, tensor in avg.state_dict().items():
        expected = torch.stack([m.state_dict()[name] for m in models]).mean(0)
        torch.testing.assert_close(tensor, expected)
    assert avg.src_embed.weight is avg.tgt_embed.weight
    assert (out / ckpt.TOKENIZER).is_file() and not (
        out / ckpt.OPTIMIZER
    ).exists()
    assert json.loads((out / ckpt.TRAINER_STATE).read_text())[
        "averaged_from"
    ] == [str(p) for p in paths]
    # Averaging one checkpoint gives it back.
    assert_same_weights(
        load_model(average_checkpoints(paths[:1], tmp_path / "one")), models[0]
    )


def test_average_refuses_different_configs(tmp_path: Path) -> None:
    a = save_checkpoint(tmp_path / "a", tiny())
    b = save_checkpoint(tmp_path / "b", tiny(d_ff=32))
    with pytest.raises(CheckpointError, match="model configs differ"):
        average_checkpoints([a, b], tmp_path / "out")


def test_a_save_cleans_up_what_killed_saves_left_behind(
    tmp_path: Path,
) -> None:
    """A process killed mid-save leaves a hidden .step_N.tmp-PID folder; the
    next save deletes those of dead processes (never a live process's, never a
    real checkpoint)."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    try:
        ckpt.save_checkpoint(tmp_path / "step_00000003", tiny())
        leftovers = [
            tmp_path / f".step_00000005.tmp-{dead.pid}",
            tmp_path / f".step_00000003.old-{dead.pid}",
        ]
        in_progress = tmp_path / f".step_00000009.tmp-{live.pid}"
        # killed between the two renames of a save
        only_copy = tmp_path / f".step_00000007.old-{dead.pid}"
        for d in [*leftovers, in_progress, only_copy]:
            d.mkdir()
            (d / "model.safetensors").write_bytes(b"x" * 100)
        ckpt.save_checkpoint(tmp_path / "step_00000010", tiny())
        assert not any(d.exists() for d in leftovers)
        assert (
            in_progress.exists()
            and only_copy.exists()
            and (tmp_path / "step_00000010" / "manifest.json").is_file()
        )
    finally:
        live.kill()
        live.wait()
