"""The run configuration: shipped configs, the paper's numbers, overrides, and
errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from transformer.train.config import (
    RunConfig,
    apply_overrides,
    toml_value,
    trainer_command,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize(
    "path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name
)
def test_every_shipped_config_loads_and_builds_a_model_config(
    path: Path,
) -> None:
    config = RunConfig.from_toml(path)
    model = config.model_config(vocab_size=1000)
    assert model.vocab_size == 1000 and model.pad_id == 0
    assert RunConfig.from_dict(config.to_dict()) == config


def test_the_four_configs_ship() -> None:
    assert {p.name for p in CONFIGS.glob("*.toml")} >= {
        "numbers-cpu.toml",
        "multi30k.toml",
        "wmt14-base.toml",
        "wmt14-big.toml",
    }


@pytest.mark.parametrize(
    "name,steps,d_model,dropout",
    [
        ("wmt14-base.toml", 100_000, 512, 0.1),
        ("wmt14-big.toml", 300_000, 1024, 0.3),
    ],
)
def test_paper_configs_have_the_papers_numbers(
    name: str, steps: int, d_model: int, dropout: float
) -> None:
    c = RunConfig.from_toml(CONFIGS / name)
    m = c.model_config(vocab_size=37000)
    assert (m.d_model, m.dropout, m.n_layers) == (d_model, dropout, 6)
    assert (
        c.train.max_steps == steps
        and c.train.warmup_steps == 4000
        and c.train.tokens_per_step == 25000
    )
    assert (
        c.train.betas == [0.9, 0.98]
        and c.train.adam_eps == 1e-9
        and c.train.label_smoothing == 0.1
    )
    assert (c.decode.beam_size, c.decode.alpha, c.decode.extra_len) == (
        4,
        0.6,
        50,
    )
    assert (
        c.data.vocab_size == 37000
        and c.data.src_lang == "en"
        and c.data.tgt_lang == "de"
    )


def test_overrides_take_toml_values_and_bare_words() -> None:
    c = RunConfig.from_toml(
        CONFIGS / "numbers-cpu.toml",
        [
            "train.max_steps=7",
            "model.d_model=32",
            "train.lr_scale=2",
            "data.task=copy",
            'train.out_dir="x y"',
            "train.betas=[0.9, 0.99]",
            "train.compile=true",
        ],
    )
    assert (
        c.train.max_steps == 7
        and c.model["d_model"] == 32
        and c.data.task == "copy"
    )
    assert c.train.lr_scale == 2.0 and isinstance(c.train.lr_scale, float)
    assert (
        c.train.out_dir == "x y"
        and c.train.betas == [0.9, 0.99]
        and c.train.compile is True
    )
    assert c.model_config(vocab_size=50).d_model == 32


@pytest.mark.parametrize(
    "override,match",
    [
        (
            "train.max_step=10",
            r"unknown key 'train.max_step'.*known keys of \[train\]",
        ),
        ("model.d_modle=10", r"unknown key 'model.d_modle'"),
        (
            "model.vocab_size=10",
            r"unknown key 'model.vocab_size'.*come from the tokenizer",
        ),
        ("decoding.beam_size=2", r"unknown table \[decoding\]"),
        (
            "train.max_steps=ten",
            r"'train.max_steps' .* must be int, got 'ten'",
        ),
        ("train.compile=1", r"'train.compile' .* must be bool"),
        ("train.max_steps=0", r"'train.max_steps' .* must be >= 1"),
        ("data.task=imagenet", r"'data.task' .* must be one of"),
        ("model.preset=huge", r"'model.preset' .* must be one of"),
        ("model.d_model=30", r"\[model\] .*divisible by n_heads"),
        ("max_steps=3", r"must look like table.key=value"),
        # Negative values that used to pass silently: grad_accum =
        # ceil(-1 / max_tokens) = 0 trained on nothing, and val_pairs[:-3]
        # decoded all but three validation sentences.
        (
            "train.tokens_per_step=-1",
            r"'train.tokens_per_step' .* must be >= 0",
        ),
        ("train.eval_sentences=-3", r"'train.eval_sentences' .* must be >= 0"),
        ("train.eval_every=-5", r"'train.eval_every' .* must be >= 0"),
        ("train.save_every=-5", r"'train.save_every' .* must be >= 0"),
        (
            "train.label_smoothing=1.5",
            r"'train.label_smoothing' .* must lie in \[0, 1\)",
        ),
        ("train.threads=-1", r"'train.threads' .* must be >= 0"),
        # Used to be tracebacks (IndexError, TypeError) or torch's message
        # without the key, or accepted:
        (
            "train.betas=[0.9]",
            r"'train.betas' .* must be two numbers in \[0, 1\)",
        ),
        ('train.betas=["a", "b"]', r"'train.betas' .* must be two numbers"),
        ("train.betas=[0.9, 1.5]", r"'train.betas' .* must be two numbers"),
        ("train.adam_eps=-1", r"'train.adam_eps' .* must be > 0"),
        ("train.lr_scale=-1", r"'train.lr_scale' .* must be > 0"),
        ("decode.extra_len=-1", r"'decode.extra_len' .* must be >= 0"),
        (
            "data.train_size=0",
            r"'data.train_size' .* must be >= 1 for the numbers task",
        ),
        # numbers-cpu.toml: the word tokenizer
        ("data.vocab_size=1", r"'data.vocab_size' .* must be >= 64"),
        ("train.fused_loss=1", r"'train.fused_loss' .* must be bool"),
        ("train.precision='fp16'", r"'train.precision' .* must be one of"),
        (
            "train.dropout_masks='fast'",
            r"'train.dropout_masks' .* must be one of",
        ),
    ],
)
def test_bad_keys_and_values_are_named(override: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RunConfig.from_toml(CONFIGS / "numbers-cpu.toml", [override])


def test_unknown_key_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nmax_steps = 5\nwarmup = 10\n")
    with pytest.raises(
        ValueError, match=r"unknown key 'train.warmup' in .*bad.toml"
    ):
        RunConfig.from_toml(path)
    path.write_text("[train\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        RunConfig.from_toml(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunConfig.from_toml(tmp_path / "missing.toml")


def test_apply_overrides_does_not_mutate_its_input() -> None:
    raw = {"train": {"max_steps": 1}}
    out = apply_overrides(raw, ["train.max_steps=2", "data.seed=3"])
    assert raw == {"train": {"max_steps": 1}} and out == {
        "train": {"max_steps": 2},
        "data": {"seed": 3},
    }


def test_auto_precision_is_bf16_exactly_on_cpus_with_bf16_instructions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from transformer.train import device as dev

    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    assert dev.autocast_dtype(cpu, "auto") is torch.bfloat16
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    assert dev.autocast_dtype(cpu, "auto") is None
    assert dev.autocast_dtype(cpu, "fp32") is None


def test_bf16_on_a_cpu_without_bf16_instructions_warns_and_names_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from transformer.train import device as dev

    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    with pytest.warns(
        UserWarning,
        match=r"emulated and slower than fp32.*train.precision='auto'",
    ):
        assert (
            dev.autocast_dtype(torch.device("cpu"), "bf16") is torch.bfloat16
        )


def test_compile_on_a_cpu_without_a_cxx_compiler_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from transformer.train import device as dev

    monkeypatch.setattr(dev.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(
        ValueError,
        match=(
            r"train.compile=true on the CPU needs a C\+\+"
            r" compiler.*compile=false"
        ),
    ):
        dev.check_compile(torch.device("cpu"), True)
    dev.check_compile(torch.device("cpu"), False)  # off: nothing to check


def test_the_cpu_allocator_setting_takes_on_glibc_and_changes_no_number() -> (
    None
):
    import platform

    import torch

    from transformer.train.device import tune_cpu_allocator

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert tune_cpu_allocator() is True
    torch.manual_seed(0)
    a, b = torch.randn(300, 300), torch.randn(300, 300)
    before = a @ b
    tune_cpu_allocator()
    assert torch.equal(a @ b, before)


@pytest.mark.parametrize(
    "value", [True, False, 0, 7, 0.1, 1e-9, "decoder_only", "x y", "rope"]
)
def test_a_value_written_by_toml_value_reads_back_as_itself(value) -> None:
    """What scripts/table3.py and scripts/compare.py pass as --set comes back
    from apply_overrides unchanged, type included."""
    got = apply_overrides({}, [f"model.k={toml_value(value)}"])["model"]["k"]
    assert got == value and type(got) is type(value)


def test_the_trainer_command_sets_each_override_and_a_nonzero_seed() -> None:
    assert trainer_command("c.toml", ["model.n_heads=1"], 0, "runs/a") == [
        "python", "-m", "transformer", "train", "c.toml",
        "--out-dir", "runs/a", "--set", "model.n_heads=1",
    ]  # fmt: skip
    assert trainer_command("c.toml", [], 2, "runs/b")[-2:] == [
        "--set",
        "train.seed=2",
    ]
