"""The run configuration: one TOML file with four tables, ``[data]``,
``[model]``, ``[train]``, ``[decode]``.

``[model]`` names a :class:`~transformer.config.ModelConfig` preset (``base``,
``big``, ``small``, ``tiny``) and overrides any of its fields; the vocabulary
size and padding id come from the tokenizer. The other tables map onto the
dataclasses below, whose defaults are the paper's (§5). An unknown table or key
is an error that names it, so a typo never silently falls back to a default.

Overrides use dotted keys and TOML values: ``--set train.max_steps=100 --set
model.d_model=128``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformer.config import ModelConfig
from transformer.data.tasks import TASKS, DataConfig

PRESETS = ("base", "big", "small", "tiny")


@dataclass
class TrainConfig:
    # optimizer steps (the paper: 100k base, 300k big, §5.2)
    max_steps: int = 100_000
    # per micro-batch and process, source and target each (§5.1)
    max_tokens: int = 4096
    grad_accum: int = 1  # micro-batches per optimizer step
    # > 0: choose grad_accum to reach about this many target tokens per step
    tokens_per_step: int = 0
    warmup_steps: int = 4000  # Eq. (3)
    lr_scale: float = 1.0  # multiplies Eq. (3)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])  # §5.3
    adam_eps: float = 1e-9
    label_smoothing: float = 0.1  # §5.4
    # gradient clipping by global norm; 0: off (the paper does not clip)
    clip_norm: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    # auto (bf16 autocast on GPUs and CPUs with bf16 instructions) | bf16 |
    # fp32
    precision: str = "auto"
    compile: bool = False  # torch.compile the model for training
    # projection + loss in chunks, padding skipped, no (N, V) logits held
    fused_loss: bool = True
    # dropout masks: auto (bits on the CPU, PyTorch's elsewhere) | bits (from
    # raw random bits, P_drop rounded to a multiple of 2^-16) | torch
    dropout_masks: str = "auto"
    # intra-op CPU threads (0: PyTorch's default, one per core)
    threads: int = 0
    # CPU, glibc: keep freed memory for reuse (fewer page faults; same numbers)
    tune_allocator: bool = True
    log_every: int = 100  # steps between metric records
    # steps between validation losses (0: only at the end)
    eval_every: int = 1000
    # > 0: also greedy-decode this many validation sentences (BLEU, exact
    # match)
    eval_sentences: int = 0
    save_every: int = 1000  # steps between checkpoints (0: only at the end)
    keep_last: int = 5  # checkpoints kept (§6.1 averages the last 5 / 20)
    # checkpoints, metrics.jsonl, run.json ("": write nothing)
    out_dir: str = "runs/default"
    resume: bool = False  # continue from the newest checkpoint in out_dir
    # start over in an out_dir that holds a run (deletes its checkpoints and
    # metrics)
    overwrite: bool = False
    progress: bool = True  # tqdm progress bar


@dataclass
class DecodeConfig:
    beam_size: int = 4  # §6.1
    alpha: float = 0.6  # length penalty (§6.1)
    extra_len: int = 50  # maximum output length = input length + 50 (§6.1)
    batch_size: int = 64


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "base"})
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    # -- building -------------------------------------------------------------
    @classmethod
    def from_dict(
        cls, raw: dict[str, Any], source: str = "config"
    ) -> RunConfig:
        tables = {
            "data": DataConfig,
            "model": None,
            "train": TrainConfig,
            "decode": DecodeConfig,
        }
        unknown = sorted(set(raw) - set(tables))
        if unknown:
            raise ValueError(
                f"unknown table [{unknown[0]}] in {source}; known tables:"
                f" {sorted(tables)}"
            )
        sections: dict[str, Any] = {}
        for name, kind in tables.items():
            values = raw.get(name, {})
            if not isinstance(values, dict):
                raise ValueError(
                    f"'{name}' in {source} must be a table, got {values!r}"
                )
            if kind is None:
                sections[name] = _check_model(values, source)
            else:
                sections[name] = _build(kind, name, values, source)
        config = cls(**sections)
        _validate(config, source)
        return config

    @classmethod
    def from_toml(
        cls, path: str | Path, overrides: list[str] | None = None
    ) -> RunConfig:
        """Read a TOML file, apply ``"table.key=value"`` overrides,
        validate."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"config file {path} does not exist (see configs/)"
            ) from None
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path} is not valid TOML: {e}") from None
        return cls.from_dict(
            apply_overrides(raw, overrides or []), source=str(path)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": dataclasses.asdict(self.data),
            "model": dict(self.model),
            "train": dataclasses.asdict(self.train),
            "decode": dataclasses.asdict(self.decode),
        }

    def model_config(self, vocab_size: int, pad_id: int = 0) -> ModelConfig:
        """The ModelConfig for a tokenizer of ``vocab_size`` (shared
        source-target vocabulary, §3.4)."""
        overrides = {k: v for k, v in self.model.items() if k != "preset"}
        preset = getattr(ModelConfig, self.model.get("preset", "base"))
        return preset(vocab_size, pad_id=pad_id, **overrides)


def apply_overrides(
    raw: dict[str, Any], overrides: list[str]
) -> dict[str, Any]:
    """``["train.max_steps=100", "data.task='copy'"]`` applied to a nested dict
    (copied)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ValueError(
                f"override {item!r} must look like table.key=value, e.g."
                " train.max_steps=100"
            )
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            # a bare word: take it as a string (data.task=copy)
            value = text.strip()
        out.setdefault(parts[0], {})[parts[1]] = value
    return out


def toml_value(value: Any) -> str:
    """A Python value as a TOML value (for ``--set TABLE.KEY=VALUE``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def trainer_command(
    config: str, overrides: list[str], seed: int, out_dir: str
) -> list[str]:
    """``python -m transformer train CONFIG --out-dir OUT_DIR`` with each
    override (``TABLE.KEY=VALUE``) as a ``--set``, and the seed when it is not
    0."""
    sets = overrides + ([f"train.seed={seed}"] if seed else [])
    return [
        "python",
        "-m",
        "transformer",
        "train",
        config,
        "--out-dir",
        out_dir,
        *[arg for s in sets for arg in ("--set", s)],
    ]


def _build(kind: type, name: str, values: dict[str, Any], source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(kind)}
    for key, value in values.items():
        if key not in fields:
            raise ValueError(
                f"unknown key '{name}.{key}' in {source}; known keys of"
                f" [{name}]: {sorted(fields)}"
            )
        f = fields[key]
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else f.default_factory()  # type: ignore[misc]
        )
        _check_type(f"{name}.{key}", value, default, source)
    converted = {
        k: float(v) if isinstance(fields[k].default, float) else v
        for k, v in values.items()
    }
    return kind(**converted)


def _check_type(key: str, value: Any, default: Any, source: str) -> None:
    expected: tuple[type, ...] = (type(default),)
    if isinstance(default, float):
        expected = (int, float)
    ok = isinstance(value, expected) and not (
        isinstance(value, bool) and not isinstance(default, bool)
    )
    if not ok:
        raise ValueError(
            f"'{key}' in {source} must be {type(default).__name__}, got"
            f" {value!r}"
        )


def _validate(config: RunConfig, source: str) -> None:
    choices = {
        "data.task": (config.data.task, tuple(TASKS)),
        "data.tokenizer": (config.data.tokenizer, ("bpe", "word")),
        "train.precision": (config.train.precision, ("auto", "bf16", "fp32")),
        "train.dropout_masks": (
            config.train.dropout_masks,
            ("auto", "bits", "torch"),
        ),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(
                f"'{key}' in {source} must be one of {allowed}, got {value!r}"
            )
    for key in (
        "max_steps",
        "max_tokens",
        "grad_accum",
        "warmup_steps",
        "log_every",
        "keep_last",
    ):
        if getattr(config.train, key) < 1:
            raise ValueError(
                f"'train.{key}' in {source} must be >= 1, got"
                f" {getattr(config.train, key)}"
            )
    for key in (
        "threads",
        "tokens_per_step",
        "eval_every",
        "eval_sentences",
        "save_every",
        "clip_norm",
    ):
        if getattr(config.train, key) < 0:
            raise ValueError(
                f"'train.{key}' in {source} must be >= 0 (0: off), got"
                f" {getattr(config.train, key)}"
            )
    if not 0.0 <= config.train.label_smoothing < 1.0:
        raise ValueError(
            f"'train.label_smoothing' in {source} must lie in [0, 1), got"
            f" {config.train.label_smoothing}"
        )
    betas = config.train.betas
    if len(betas) != 2 or not all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1
        for b in betas
    ):
        raise ValueError(
            f"'train.betas' in {source} must be two numbers in [0, 1), e.g."
            f" [0.9, 0.98], got {betas!r}"
        )
    for key in ("adam_eps", "lr_scale"):
        if not getattr(config.train, key) > 0:
            raise ValueError(
                f"'train.{key}' in {source} must be > 0, got"
                f" {getattr(config.train, key)}"
            )
    if config.decode.extra_len < 0:
        raise ValueError(
            f"'decode.extra_len' in {source} must be >= 0, got"
            f" {config.decode.extra_len}"
        )
    if config.data.task in ("numbers", "copy") and config.data.train_size < 1:
        raise ValueError(
            f"'data.train_size' in {source} must be >= 1 for the"
            f" {config.data.task} task, got {config.data.train_size}"
        )
    if config.data.vocab_size < 64:
        raise ValueError(
            f"'data.vocab_size' in {source} must be >= 64 (a BPE vocabulary's"
            " special tokens and alphabet alone need more; the word tokenizer"
            f" ignores it), got {config.data.vocab_size}"
        )
    if config.decode.beam_size < 1:
        raise ValueError(
            f"'decode.beam_size' in {source} must be >= 1, got"
            f" {config.decode.beam_size}"
        )
    try:
        config.model_config(vocab_size=16)
    except (TypeError, ValueError) as e:
        raise ValueError(f"[model] in {source}: {e}") from None


def _check_model(values: dict[str, Any], source: str) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(ModelConfig)} - {
        "vocab_size",
        "tgt_vocab_size",
        "pad_id",
    }
    for key in values:
        if key != "preset" and key not in known:
            raise ValueError(
                f"unknown key 'model.{key}' in {source}; known keys of"
                f" [model]: {sorted(known | {'preset'})} (vocab_size and"
                " pad_id come from the tokenizer)"
            )
    preset = values.get("preset", "base")
    if preset not in PRESETS:
        raise ValueError(
            f"'model.preset' in {source} must be one of {PRESETS}, got"
            f" {preset!r}"
        )
    return {
        "preset": preset,
        **{k: v for k, v in values.items() if k != "preset"},
    }
