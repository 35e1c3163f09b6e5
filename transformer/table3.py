"""The rows of the paper's Table 3 (§6.2), as changes to any base model.

Table 3 varies the base model one thing at a time. Each row is written here
*relative to a base* ``ModelConfig``, with the paper's ratios, so the same
definitions give the paper's rows at the paper's size and the same rows at a
CPU size::

    from transformer.table3 import table3_rows
    rows = table3_rows(ModelConfig.base(37000))  # A-h1, ..., B-dk16, ...
    cpu = table3_rows(ModelConfig.small(8000, d_model=128, n_heads=8,
                                        d_ff=512))  # ..., B-dk4, ...

For the paper's base (N=6, d_model=512, d_ff=2048, h=8, d_k=d_v=64) they are
exactly Table 3's rows: (A) h in {1, 4, 16, 32} at constant computation
(d_k = d_v = d_model/h); (B) d_k in {16, 32}, i.e. a quarter and a half of the
base's; (C) N in {2, 4, 8} (a third, two thirds and four thirds of the base's),
d_model halved and doubled (d_k = d_v follow), d_ff halved and doubled; (D)
P_drop in {0.0, 0.2} and label smoothing in {0.0, 0.2}; (E) learned positional
embeddings; "big" doubles d_model, d_ff and h with P_drop = 0.3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformer.config import ModelConfig
from transformer.train.config import toml_value, trainer_command


@dataclass(frozen=True)
class PaperRow:
    """A row of Table 3 as the paper prints it (newstest2013, EN-DE)."""

    change: str
    ppl: float
    bleu: float
    params_m: float | None  # millions; None where the paper leaves it blank


@dataclass(frozen=True)
class Row:
    """One row of Table 3 relative to a base model."""

    name: str  # the run's name after "table3-": "A-h1", "C-dff1024", ...
    block: str  # "base", "A", "B", "C", "D", "E" or "big"
    change: str  # what differs from the base, in the paper's notation
    paper: PaperRow
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig
    # (quantity, value) the row varies, for plots; None for base, E and big
    varies: tuple[str, float] | None = None

    def config(self, base: ModelConfig) -> ModelConfig:
        """The row's model: the base with the row's changes."""
        return ModelConfig.from_dict({**base.to_dict(), **self.model})

    def overrides(self) -> list[str]:
        """The row's changes as ``--set TABLE.KEY=VALUE`` arguments (TOML
        values) of ``python -m transformer train``."""
        return [
            f"{table}.{key}={toml_value(value)}"
            for table, values in (("model", self.model), ("train", self.train))
            for key, value in values.items()
        ]


def run_name(row: Row, seed: int = 0, prefix: str = "table3-") -> str:
    """The recorded name of a row's run: ``table3-<row>``, and
    ``table3-<row>-seed<s>`` for a seed s other than 0."""
    return f"{prefix}{row.name}" + (f"-seed{seed}" if seed else "")


def train_command(
    config: str, row: Row, seed: int = 0, out_dir: str | None = None
) -> list[str]:
    """The command that trains a row: the base's config with the row's
    changes (and its seed) as ``--set`` overrides."""
    return trainer_command(
        config,
        row.overrides(),
        seed,
        out_dir or f"runs/{run_name(row, seed)}",
    )


# The paper's Table 3, keyed by the row's name at the paper's size.
PAPER = {
    "base": PaperRow(
        "N=6, d_model=512, d_ff=2048, h=8, d_k=d_v=64", 4.92, 25.8, 65
    ),
    "A-h1": PaperRow("h=1, d_k=d_v=512", 5.29, 24.9, None),
    "A-h4": PaperRow("h=4, d_k=d_v=128", 5.00, 25.5, None),
    "A-h16": PaperRow("h=16, d_k=d_v=32", 4.91, 25.8, None),
    "A-h32": PaperRow("h=32, d_k=d_v=16", 5.01, 25.4, None),
    "B-dk16": PaperRow("d_k=16", 5.16, 25.1, 58),
    "B-dk32": PaperRow("d_k=32", 5.01, 25.4, 60),
    "C-N2": PaperRow("N=2", 6.11, 23.7, 36),
    "C-N4": PaperRow("N=4", 5.19, 25.3, 50),
    "C-N8": PaperRow("N=8", 4.88, 25.5, 80),
    "C-d256": PaperRow("d_model=256, d_k=d_v=32", 5.75, 24.5, 28),
    "C-d1024": PaperRow("d_model=1024, d_k=d_v=128", 4.66, 26.0, 168),
    "C-dff1024": PaperRow("d_ff=1024", 5.12, 25.4, 53),
    "C-dff4096": PaperRow("d_ff=4096", 4.75, 26.2, 90),
    "D-drop0.0": PaperRow("P_drop=0.0", 5.77, 24.6, None),
    "D-drop0.2": PaperRow("P_drop=0.2", 4.95, 25.5, None),
    "D-ls0.0": PaperRow("ε_ls=0.0", 4.67, 25.3, None),
    "D-ls0.2": PaperRow("ε_ls=0.2", 5.47, 25.7, None),
    "E-learned": PaperRow("learned positional embeddings", 4.92, 25.7, None),
    "big": PaperRow(
        "N=6, d_model=1024, d_ff=4096, h=16, P_drop=0.3", 4.33, 26.4, 213
    ),
}


def _scaled(value: int, ratio: float, what: str) -> int:
    scaled = value * ratio
    if scaled != int(scaled) or scaled < 1:
        raise ValueError(
            f"Table 3 scales {what} by {ratio:g}, which makes {value} into"
            f" {scaled:g}, not a positive whole number; choose a base {what}"
            " that the paper's ratios divide"
        )
    return int(scaled)


def table3_rows(base: ModelConfig) -> list[Row]:
    """Every row of Table 3, in the paper's order, relative to ``base``.

    Raises ``ValueError`` when a ratio of the paper does not divide a size of
    ``base`` (e.g. h = 32 heads need d_model divisible by 32), or when the
    base fixes d_k or d_v (Table 3 lets them follow d_model / h).
    """
    if base.d_k is not None or base.d_v is not None:
        raise ValueError(
            f"Table 3's rows let d_k = d_v = d_model / h follow d_model and h;"
            f" the base fixes d_k={base.d_k}, d_v={base.d_v}: leave them unset"
        )
    d, h, n = base.d_model, base.n_heads, base.n_layers
    d_ff, d_k = base.d_ff, base.head_dim_k
    paper = list(PAPER.values())
    rows = [
        Row(
            "base",
            "base",
            f"N={n}, d_model={d}, d_ff={d_ff}, h={h}, d_k=d_v={d_k}",
            paper[0],
        )
    ]
    # (A) the number of heads at constant computation: d_k = d_v = d_model/h
    for ratio, key in zip(
        (1 / 8, 1 / 2, 2, 4), ("A-h1", "A-h4", "A-h16", "A-h32")
    ):
        heads = _scaled(h, ratio, "h")
        width = _scaled(d, 1 / heads, "d_model")
        rows.append(
            Row(
                f"A-h{heads}",
                "A",
                f"h={heads}, d_k=d_v={width}",
                PAPER[key],
                dict(n_heads=heads, d_k=width, d_v=width),
                varies=("h", heads),
            )
        )
    # (B) a smaller key size only
    for ratio, key in ((1 / 4, "B-dk16"), (1 / 2, "B-dk32")):
        k = _scaled(d_k, ratio, "d_k")
        rows.append(
            Row(
                f"B-dk{k}",
                "B",
                f"d_k={k}",
                PAPER[key],
                dict(d_k=k),
                varies=("d_k", k),
            )
        )
    # (C) bigger and smaller models
    for ratio, key in ((1 / 3, "C-N2"), (2 / 3, "C-N4"), (4 / 3, "C-N8")):
        layers = _scaled(n, ratio, "N")
        rows.append(
            Row(
                f"C-N{layers}",
                "C",
                f"N={layers}",
                PAPER[key],
                dict(n_layers=layers),
                varies=("N", layers),
            )
        )
    for ratio, key in ((1 / 2, "C-d256"), (2, "C-d1024")):
        width = _scaled(d, ratio, "d_model")
        rows.append(
            Row(
                f"C-d{width}",
                "C",
                f"d_model={width}, d_k=d_v={_scaled(width, 1 / h, 'd_model')}",
                PAPER[key],
                dict(d_model=width),
                varies=("d_model", width),
            )
        )
    for ratio, key in ((1 / 2, "C-dff1024"), (2, "C-dff4096")):
        inner = _scaled(d_ff, ratio, "d_ff")
        rows.append(
            Row(
                f"C-dff{inner}",
                "C",
                f"d_ff={inner}",
                PAPER[key],
                dict(d_ff=inner),
                varies=("d_ff", inner),
            )
        )
    # (D) regularisation: absolute values, as the paper's
    for p in (0.0, 0.2):
        rows.append(
            Row(
                f"D-drop{p}",
                "D",
                f"P_drop={p}",
                PAPER[f"D-drop{p}"],
                dict(dropout=p),
                varies=("P_drop", p),
            )
        )
    for eps in (0.0, 0.2):
        rows.append(
            Row(
                f"D-ls{eps}",
                "D",
                f"ε_ls={eps}",
                PAPER[f"D-ls{eps}"],
                train=dict(label_smoothing=eps),
                varies=("ε_ls", eps),
            )
        )
    # (E) learned positional embeddings instead of sinusoids
    rows.append(
        Row(
            "E-learned",
            "E",
            "learned positional embeddings",
            PAPER["E-learned"],
            dict(positional="learned"),
        )
    )
    # big: d_model, d_ff and h doubled, P_drop = 0.3
    big = dict(
        d_model=_scaled(d, 2, "d_model"),
        d_ff=_scaled(d_ff, 2, "d_ff"),
        n_heads=_scaled(h, 2, "h"),
        dropout=0.3,
    )
    rows.append(
        Row(
            "big",
            "big",
            f"N={n}, d_model={big['d_model']}, d_ff={big['d_ff']},"
            f" h={big['n_heads']}, P_drop=0.3",
            PAPER["big"],
            big,
        )
    )
    return rows


def base_value(
    base: ModelConfig, quantity: str, label_smoothing: float
) -> float:
    """The base model's value of a quantity a row varies (for plots)."""
    return {
        "h": base.n_heads,
        "d_k": base.head_dim_k,
        "N": base.n_layers,
        "d_model": base.d_model,
        "d_ff": base.d_ff,
        "P_drop": base.dropout,
        "ε_ls": label_smoothing,
    }[quantity]
