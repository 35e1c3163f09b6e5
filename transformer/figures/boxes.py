"""The figures' building blocks: a :class:`Box` per module, drawn and
joined by arrows, each linked to its source lines; ``to_html`` for a web
page."""

from __future__ import annotations

import inspect
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import transformer
from transformer.config import ModelConfig
from transformer.model import Transformer

PACKAGE = Path(transformer.__file__).resolve().parent
COLORS = {
    "attention": "#fce4c4",
    "ffn": "#cfe8fc",
    "norm": "#f3f1b6",
    "embed": "#f8d0d8",
    "output": "#dbeccf",
    "io": "#ffffff",
    "op": "#eeeeee",
}


@dataclass
class Box:
    """One box of a figure: what the paper calls it, what does it in the
    package, and where."""

    title: str
    detail: str  # class (and sizes)
    kind: str  # a key of COLORS
    # the class or function that does it (for the file name and the link)
    source: Any = None

    def where(self) -> str:
        if self.source is None:
            return ""
        path = Path(inspect.getsourcefile(self.source) or "").resolve()
        return path.relative_to(PACKAGE.parent).as_posix()

    def url(self, repo_url: str | None) -> str | None:
        if repo_url is None or self.source is None:
            return None
        lines, start = inspect.getsourcelines(self.source)
        end = start + len(lines) - 1
        return (
            f"{repo_url.rstrip('/')}/blob/main/{self.where()}#L{start}-L{end}"
        )


def meta_model(config: ModelConfig) -> Transformer:
    # the structure only: no memory, no initialisation cost
    with torch.device("meta"):
        return Transformer(config)


def draw(
    ax: Any,
    x: float,
    y: float,
    w: float,
    h: float,
    box: Box,
    repo_url: str | None,
) -> tuple[float, float]:
    """Draw ``box`` centred at (x, y); returns its top and bottom y for the
    arrows."""
    from matplotlib.patches import FancyBboxPatch

    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2),
        w,
        h,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        facecolor=COLORS[box.kind],
        edgecolor="#555555",
        linewidth=1.0,
    )
    url = box.url(repo_url)
    if url:
        patch.set_url(url)
    ax.add_patch(patch)
    where = box.where()
    ax.text(
        x,
        y + (0.12 if box.detail or where else 0),
        box.title,
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        url=url,
    )
    sub = "  ".join(
        s
        for s in (
            box.detail,
            where and f"({where.removeprefix('transformer/')})",
        )
        if s
    )
    if sub:
        ax.text(
            x,
            y - 0.16,
            sub,
            ha="center",
            va="center",
            fontsize=7,
            family="monospace",
            color="#333333",
            url=url,
        )
    return y + h / 2, y - h / 2


def arrow(ax: Any, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate(
        "",
        xy=(x1, y1),
        xytext=(x0, y0),
        arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.0},
    )


def column(
    ax: Any,
    x: float,
    y: float,
    boxes: list[Box],
    repo_url: str | None,
    w: float = 3.3,
    h: float = 0.55,
    gap: float = 0.3,
) -> list[tuple[float, float]]:
    """Boxes stacked upwards from y (the first at the bottom), joined by
    arrows; returns (top, bottom) of each."""
    spans = []
    for i, box in enumerate(boxes):
        top, bottom = draw(ax, x, y + i * (h + gap), w, h, box, repo_url)
        if spans:
            arrow(ax, x, spans[-1][0], x, bottom)
        spans.append((top, bottom))
    return spans


def to_html(fig: Any) -> str:
    """The figure as inline SVG markup (clickable boxes in a web page), and the
    figure closed."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    # text stays text: small, selectable, searchable
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]
