"""The trained comparisons of the chapters before and after the paper, as
changes to one base model (the base of Table 3 at CPU scale).

Three groups, each at the base's budget of training steps and batches (the
same sentence pairs, so the same target tokens):

* ``architecture``: the paper's encoder-decoder, a decoder-only model and a
  prefix LM, the last two with as many layers as give them the base's
  parameter count (7 for an N = 3 base with d_ff = 4 d_model: an encoder
  layer holds 12 d_model^2 weights, a decoder layer 16, and 3 x 12 + 3 x 16 = 7
  x 12);
* ``block``: the paper's block against the LLaMA-era one (pre-norm, RMSNorm,
  SwiGLU with d_ff x 2/3, RoPE), and each of the four changes alone;
* ``scoring``: additive, dot-product and scaled dot-product attention (§3.2.1)
  as d_k grows, at constant d_model (h = d_model / d_k).

    from transformer.comparisons import variants
    for v in variants(ModelConfig.small(8000, d_model=128, n_heads=8,
                                        d_ff=512)):
        print(v.name, v.change)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from transformer.build import build_model
from transformer.config import ModelConfig
from transformer.results import RecordedRun
from transformer.row_scores import train_differences
from transformer.train.config import RunConfig, toml_value, trainer_command


@dataclass(frozen=True)
class Variant:
    """One trained comparison: the base with ``model`` changed."""

    name: str  # the run's name after "compare-"
    group: str  # "architecture", "block" or "scoring"
    change: str  # what differs from the base
    model: dict[str, Any] = field(default_factory=dict)
    # (quantity, value) the row varies within its group, for plots
    varies: tuple[str, float] | None = None

    def config(self, base: ModelConfig) -> ModelConfig:
        return dataclasses.replace(base, **self.model)

    def overrides(self) -> list[str]:
        """The changes as ``--set model.KEY=VALUE`` arguments (TOML
        values)."""
        return [f"model.{k}={toml_value(v)}" for k, v in self.model.items()]


def parameters(config: ModelConfig) -> int:
    """The model's parameter count, built on the meta device (no memory)."""
    with torch.device("meta"):
        return build_model(config).num_parameters()


def matching_layers(base: ModelConfig, architecture: str) -> int:
    """The layer count that brings a one-stack model closest to the base's
    parameter count."""
    target = parameters(base)
    return min(
        range(1, 4 * base.n_layers + 1),
        key=lambda n: abs(
            parameters(
                dataclasses.replace(
                    base, architecture=architecture, n_layers=n
                )
            )
            - target
        ),
    )


MODERN = dict(
    norm_first=True,
    norm="rms",
    activation="swiglu",
    match_ffn_params=True,
    positional="rope",
)


def variants(base: ModelConfig) -> list[Variant]:
    """Every comparison relative to ``base`` (which is the row named
    "base"): architecture, block, then scoring."""
    if base.d_k is not None or base.d_v is not None:
        raise ValueError(
            "the comparisons set d_k = d_v = d_model / h themselves; use a"
            " base without an explicit d_k or d_v"
        )
    rows = [Variant("base", "base", "the paper's model (Table 3's base)")]
    for arch, what in (
        ("decoder_only", "decoder-only (causal over source, then target)"),
        ("prefix_lm", "prefix LM (bidirectional over the source)"),
    ):
        n = matching_layers(base, arch)
        rows.append(
            Variant(
                arch.replace("_", "-"),
                "architecture",
                f"{what}, N={n}",
                {"architecture": arch, "n_layers": n},
            )
        )
    rows.append(
        Variant(
            "modern",
            "block",
            "pre-norm + RMSNorm + SwiGLU (d_ff x 2/3) + RoPE",
            dict(MODERN),
        )
    )
    rows += [
        Variant("pre-norm", "block", "pre-norm", {"norm_first": True}),
        Variant("rmsnorm", "block", "RMSNorm", {"norm": "rms"}),
        Variant(
            "swiglu",
            "block",
            "SwiGLU, d_ff x 2/3",
            {"activation": "swiglu", "match_ffn_params": True},
        ),
        Variant("rope", "block", "RoPE", {"positional": "rope"}),
    ]
    d_k = base.d_model // base.n_heads
    for heads in sorted({base.n_heads, base.n_heads // 4, 1}, reverse=True):
        if heads < 1 or base.d_model % heads:
            continue
        dk = base.d_model // heads
        for scoring in ("additive", "dot", "scaled_dot"):
            if scoring == "scaled_dot" and dk == d_k:
                continue  # the base
            rows.append(
                Variant(
                    f"{scoring.replace('_', '-')}-dk{dk}",
                    "scoring",
                    f"{scoring} scoring, h={heads}, d_k=d_v={dk}",
                    {"attention_scoring": scoring, "n_heads": heads},
                    ("d_k", dk),
                )
            )
    return rows


def run_name(variant: Variant, seed: int = 0) -> str:
    """``compare-<name>``, and ``compare-<name>-seed<s>`` for s > 0."""
    return f"compare-{variant.name}" + (f"-seed{seed}" if seed else "")


def train_command(
    config: str, variant: Variant, seed: int = 0, out_dir: str | None = None
) -> list[str]:
    """The command that trains a variant: the base config with its changes
    (and its seed) as ``--set`` overrides."""
    return trainer_command(
        config,
        variant.overrides(),
        seed,
        out_dir or f"runs/{run_name(variant, seed)}",
    )


def recorded_variant(
    runs: Mapping[str, RecordedRun],
    variant: Variant,
    base: RunConfig,
    seed: int = 0,
) -> RecordedRun | None:
    """The recorded run of ``variant`` (``runs[run_name(variant, seed)]``),
    after checking that it trained the variant's model with ``base``'s
    training settings (the budget, batches, schedule, label smoothing, the
    seed, the dropout sampler); None if it is not recorded. Raises, naming
    what differs, for a run recorded under the wrong name."""
    name = run_name(variant, seed)
    run = runs.get(name)
    if run is None:
        return None
    model = base.model_config(base.data.vocab_size)
    trained = RunConfig.from_dict(run.config, source=str(run.path))
    got = trained.model_config(model.vocab_size)
    differ = train_differences(run, base, seed=seed)
    if got != variant.config(model) or differ:
        raise ValueError(
            f"{run.path} is not the row {variant.name!r}: trained as {got}"
            f" with train settings differing in {differ}; retrain it with"
            f" `python scripts/compare.py run {variant.name}`"
        )
    return run
