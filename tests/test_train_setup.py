"""Setting a run up (transformer.train.setup.build_run) apart from the loop
that trains it; run.json records (RunRecord); the checkpoint floor that
training and inference share (transformer.checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_train_trainer import small_config, weights

from transformer import ModelConfig, Transformer
from transformer.attention import MultiHeadAttention, head_dim
from transformer.checkpoint import (
    load_model,
    load_tensors,
    write_checkpoint,
)
from transformer.train import Trainer
from transformer.train.average import average_checkpoints
from transformer.train.device import cpu_has_bf16
from transformer.train.runinfo import RunRecord, run_info
from transformer.train.setup import build_run


def test_a_built_run_trains_as_the_config_does(tmp_path: Path) -> None:
    """Trainer(build_run(config)) and Trainer(config) are the same run:
    equal weights after the same steps."""
    config = small_config(tmp_path / "a", "train.max_steps=6")
    run = build_run(config)
    assert run.position.step == 0 and run.resumed_from is None
    assert run.model.config.d_model == 32 and run.examples
    built = Trainer(run)
    built.fit()
    built.close()
    direct = Trainer(small_config(tmp_path / "b", "train.max_steps=6"))
    direct.fit()
    direct.close()
    a, b = weights(built.model), weights(direct.model)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_a_built_run_resumes_where_its_checkpoint_stopped(
    tmp_path: Path,
) -> None:
    Trainer(small_config(tmp_path, "train.max_steps=10")).fit()
    run = build_run(
        small_config(tmp_path, "train.max_steps=20", "train.resume=true")
    )
    assert run.position.step == 10 and run.resumed_from is not None
    assert run.resumed_layout == (1, 2)  # world size, grad_accum
    if run.lock is not None:
        run.lock.release()


def test_data_goes_to_build_run_not_with_a_built_run(tmp_path: Path) -> None:
    run = build_run(small_config(tmp_path, "train.max_steps=1"))
    with pytest.raises(TypeError, match="build_run"):
        Trainer(run, train_pairs=[("a", "b")])
    if run.lock is not None:
        run.lock.release()


def test_run_info_names_the_cpu_that_sets_speed_and_precision() -> None:
    """A CPU run's wall time and its "auto" precision depend on the CPU: the
    record names its model, PyTorch's vector instructions and bf16 support."""
    hardware = run_info(torch.device("cpu"), 1)["hardware"]
    assert hardware["cpu"] and isinstance(hardware["cpu"], str)
    assert (
        hardware["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    )
    assert hardware["cpu_bf16"] is cpu_has_bf16()
    caps = torch.cpu.get_capabilities()
    assert hardware["cpu_bf16_native"] is bool(
        caps["avx512_bf16"] or caps["amx_bf16"]
    )
    json.dumps(hardware)  # run.json holds it


def test_run_record_keeps_earlier_segments(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    first = RunRecord.open(path, {"start_step": 0})
    assert json.loads(path.read_text())["status"] == "running"
    # the first segment is killed: no close(); a resume opens a new one
    second = RunRecord.open(path, {"start_step": 10})
    second.close(final_step=20, status="finished")
    record = json.loads(path.read_text())
    assert (record["start_step"], record["final_step"]) == (10, 20)
    assert record["status"] == "finished"
    [earlier] = record["earlier_segments"]
    assert earlier["start_step"] == 0
    assert earlier["status"].startswith("killed")
    assert first.info == {"start_step": 0}
    RunRecord.open(None, {"x": 1}).close(y=2)  # not rank 0: writes nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope"])
def test_a_plain_state_dict_is_a_checkpoint(
    tmp_path: Path, positional: str
) -> None:
    """write_checkpoint takes tensors without a model (averages, exports);
    load_model reads them back into an equal model, computed tables included,
    without touching torch's random state."""
    config = ModelConfig.tiny(50, positional=positional)
    model = Transformer(config).eval()
    path = write_checkpoint(tmp_path / "m", model, config)
    state = load_tensors(path / "model.safetensors")
    # a tied matrix is stored once
    assert len(state) < len(model.state_dict())
    again = write_checkpoint(tmp_path / "plain", state, config)
    rng = torch.get_rng_state()
    loaded = load_model(again)
    assert torch.equal(torch.get_rng_state(), rng)
    src = torch.tensor([[5, 6, 7, 2]])
    tgt = torch.tensor([[1, 8, 9]])
    torch.testing.assert_close(loaded(src, tgt), model(src, tgt))
    # averaging one checkpoint gives it back
    averaged = load_model(average_checkpoints([path], tmp_path / "avg"))
    torch.testing.assert_close(averaged(src, tgt), model(src, tgt))


def test_the_default_head_size_is_defined_once() -> None:
    assert head_dim(512, 8) == 64 and head_dim(512, 8, 16) == 16
    config = ModelConfig.base(100, d_k=16)
    layer = MultiHeadAttention(512, 8, d_k=config.d_k)
    assert (layer.d_k, layer.d_v) == (config.head_dim_k, config.head_dim_v)


def test_attention_precision_is_float32_on_the_cpu_else_the_autocast() -> None:
    from transformer.train.device import attention_precision

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert attention_precision(cpu, torch.bfloat16) == "float32"
    assert attention_precision(cpu, None) == "float32"
    assert attention_precision(gpu, torch.bfloat16) == "bfloat16"
    assert attention_precision(gpu, None) == "float32"
