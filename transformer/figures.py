"""The paper's Figures 1 and 2, and a decoding step with the cache, drawn from
the code.

Every box is read off a real :class:`~transformer.model.Transformer` built from
a :class:`ModelConfig`: the module that does the work, its class, its file and
its sizes, so the picture cannot drift from the model (pre-norm configs draw
the norm before each sub-layer; untied outputs draw their own matrix). Drawn as
SVG, each box links to its source lines (``repo_url``: the repository, e.g.
from the book's ``_config.yml``); ``to_html`` inlines the SVG so that the links
work in a web page.

    from transformer.figures import architecture, to_html
    config = ModelConfig.base(vocab_size=37000)
    fig = architecture(config, repo_url="https://github.com/...")
    display(HTML(to_html(fig)))
"""

from __future__ import annotations

import inspect
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

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


def _model(config: ModelConfig) -> Transformer:
    # the structure only: no memory, no initialisation cost
    with torch.device("meta"):
        return Transformer(config)


def _draw(
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


def _arrow(ax: Any, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate(
        "",
        xy=(x1, y1),
        xytext=(x0, y0),
        arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.0},
    )


def _column(
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
        top, bottom = _draw(ax, x, y + i * (h + gap), w, h, box, repo_url)
        if spans:
            _arrow(ax, x, spans[-1][0], x, bottom)
        spans.append((top, bottom))
    return spans


def _sublayers(
    layer: nn.Module, config: ModelConfig, decoder: bool
) -> list[Box]:
    """The boxes of one encoder or decoder layer, bottom to top, in the order
    the config computes them."""
    from transformer.layers import Residual

    attn = type(layer.self_attn)
    sizes = f"h={config.n_heads}"
    parts: list[tuple[str, Box]] = []
    if decoder:
        parts.append(
            (
                "res_self",
                Box(
                    "Masked Multi-Head Attention",
                    f"{attn.__name__} {sizes}",
                    "attention",
                    attn,
                ),
            )
        )
        parts.append(
            (
                "res_cross",
                Box(
                    "Multi-Head Attention",
                    f"{attn.__name__} (cross) {sizes}",
                    "attention",
                    attn,
                ),
            )
        )
    else:
        parts.append(
            (
                "res_attn",
                Box(
                    "Multi-Head Attention",
                    f"{attn.__name__} {sizes}",
                    "attention",
                    attn,
                ),
            )
        )
    ffn = type(layer.ffn)
    act = "" if layer.ffn.activation == "relu" else f" {layer.ffn.activation}"
    parts.append(
        (
            "res_ffn",
            Box(
                "Feed Forward",
                f"{ffn.__name__} d_ff={layer.ffn.w_1.out_features}{act}",
                "ffn",
                ffn,
            ),
        )
    )
    boxes = []
    for residual, box in parts:
        block = getattr(layer, residual)
        norm = type(block.norm).__name__
        if block.norm_first:
            boxes += [
                Box("Norm", norm, "norm", Residual),
                box,
                Box("Add", "x + Dropout(·)", "norm", Residual),
            ]
        else:
            boxes += [
                box,
                Box("Add & Norm", f"{norm}(x + Dropout(·))", "norm", Residual),
            ]
    return boxes


def architecture(config: ModelConfig, repo_url: str | None = None) -> Any:
    """The paper's Figure 1 for ``config``: the encoder (left) and decoder
    (right) stacks, each box naming the class and file that compute it."""
    import matplotlib.pyplot as plt

    from transformer.embeddings import PositionalEncoding, TokenEmbedding
    from transformer.rope import RotaryEmbedding

    model = _model(config)
    enc_layer, dec_layer = model.encoder.layers[0], model.decoder.layers[0]
    enc = _sublayers(enc_layer, config, decoder=False)
    dec = _sublayers(dec_layer, config, decoder=True)
    height = 0.85 * (len(dec) + 5) + 1.0
    fig, ax = plt.subplots(figsize=(9.0, height * 0.78), layout="tight")
    ax.set_xlim(0, 9.0)
    ax.set_ylim(-0.6, height)
    ax.axis("off")
    embed = Box(
        "Embedding × √d_model",
        f"{TokenEmbedding.__name__} d_model={config.d_model}",
        "embed",
        TokenEmbedding,
    )
    if config.positional == "rope":  # nothing added: rotations in attention
        pos = Box(
            "(positions: RoPE)",
            f"{RotaryEmbedding.__name__}, in self-attention",
            "embed",
            RotaryEmbedding,
        )
    else:
        pos = Box(
            "+ Positional Encoding",
            f"{PositionalEncoding.__name__} ({config.positional})",
            "embed",
            PositionalEncoding,
        )
    inputs = Box("Inputs (source ids)", "", "io")
    outputs = Box("Outputs (shifted right)", "", "io")
    left = _column(ax, 2.2, 0.0, [inputs, embed, pos, *enc], repo_url)
    right = _column(ax, 6.7, 0.0, [outputs, embed, pos, *dec], repo_url)
    # The stacks: a frame around the layer boxes with "N x", from the model's
    # own number of layers.
    for x, spans, n in (
        (2.2, left[3:], len(model.encoder.layers)),
        (6.7, right[3:], len(model.decoder.layers)),
    ):
        top, bottom = spans[-1][0] + 0.15, spans[0][1] - 0.15
        ax.add_patch(
            plt.Rectangle(
                (x - 1.85, bottom),
                3.7,
                top - bottom,
                fill=False,
                edgecolor="#888888",
                linestyle="--",
                linewidth=1.0,
            )
        )
        ax.text(
            x - 2.0 if x < 4 else x + 2.0,
            (top + bottom) / 2,
            f"{n}×",
            fontsize=14,
            ha="center",
            va="center",
        )
    # Memory: the encoder's output enters every decoder layer's cross-attention
    # (the second attention box).
    cross = next(i for i, b in enumerate(dec) if "(cross)" in b.detail) + 3
    enc_top = left[-1][0]
    memory_y = (right[cross][0] + right[cross][1]) / 2
    # up out of the encoder, across between the stacks, then into the box
    lane_y, lane_x = enc_top + 0.3, 4.45
    ax.plot(
        [2.2, 2.2, lane_x, lane_x],
        [enc_top, lane_y, lane_y, memory_y],
        color="#444444",
        lw=1.0,
    )
    _arrow(ax, lane_x, memory_y, 6.7 - 1.65, memory_y)
    ax.text(2.3, lane_y + 0.1, "memory (→ K, V)", fontsize=8, ha="left")
    # The output side: tied (or untied) projection and softmax, from the model.
    tied = model.output is None
    project = Box(
        "Linear",
        (
            "tied: embedding matrixᵀ"
            if tied
            else f"nn.Linear → {config.target_vocab_size}"
        ),
        "output",
        Transformer.project,
    )
    softmax = Box("Softmax", "output probabilities", "output")
    top = right[-1][0]
    _, b = _draw(ax, 6.7, top + 0.6, 3.3, 0.55, project, repo_url)
    _arrow(ax, 6.7, top, 6.7, b)
    t2, b2 = _draw(ax, 6.7, top + 1.45, 3.3, 0.55, softmax, repo_url)
    _arrow(ax, 6.7, top + 0.6 + 0.275, 6.7, b2)
    if config.norm_first:
        ax.text(
            2.2,
            enc_top + 0.3,
            "+ final LayerNorm (pre-norm)",
            fontsize=8,
            ha="center",
        )
    ax.set_ylim(-0.6, t2 + 0.3)
    return fig


def multi_head_attention(
    config: ModelConfig, repo_url: str | None = None
) -> Any:
    """The paper's Figure 2: scaled dot-product attention (left) and multi-head
    attention (right)."""
    import matplotlib.pyplot as plt

    from transformer import attention as attn

    model = _model(config)
    mha = model.encoder.layers[0].self_attn
    d_k, d_v, h = mha.d_k, mha.d_v, mha.n_heads
    fig, ax = plt.subplots(figsize=(9.0, 5.2), layout="tight")
    ax.set_xlim(0, 9.0)
    ax.set_ylim(-0.6, 5.6)
    ax.axis("off")
    left = [
        Box("Q, K, V", f"(B, h, T, {d_k})", "io"),
        Box("MatMul", "q @ k.transpose(-2, -1)", "op", attn.attention),
        Box("Scale", f"/ √d_k = / √{d_k}", "op", attn.attention),
        Box("Mask (opt.)", "masked_fill(~mask, -inf)", "op", attn.attention),
        Box("SoftMax", "torch.softmax(·, -1)", "op", attn.attention),
        Box("MatMul", "weights @ v", "op", attn.attention),
    ]
    _column(ax, 2.0, 0.0, left, repo_url, w=3.0, h=0.5, gap=0.42)
    ax.text(
        2.0,
        5.35,
        "Scaled Dot-Product Attention (Eq. 1)",
        ha="center",
        fontsize=11,
    )
    cls = type(mha)
    right = [
        Box("V, K, Q", "(B, T, d_model)", "io"),
        Box(
            f"Linear ×3 ({h} heads each)",
            f"w_q, w_k → {h}×{d_k}; w_v → {h}×{d_v}",
            "attention",
            cls.project_kv,
        ),
        Box(
            "Scaled Dot-Product Attention",
            f"{h} heads in parallel",
            "attention",
            attn.fast_attention,
        ),
        Box("Concat", f"(B, T, {h * d_v})", "op", cls.attend),
        Box("Linear", "w_o", "attention", cls.attend),
    ]
    _column(ax, 6.6, 0.0, right, repo_url, w=3.3, h=0.5, gap=0.62)
    ax.text(
        6.6,
        5.35,
        f"Multi-Head Attention ({cls.__name__})",
        ha="center",
        fontsize=11,
    )
    return fig


def decoding_step(config: ModelConfig, repo_url: str | None = None) -> Any:
    """One step of cached decoding: the newest token only, keys and values of
    earlier positions reused."""
    import matplotlib.pyplot as plt

    from transformer.decode.stepper import ModelStepDecoder
    from transformer.layers import LayerCache
    from transformer.model import DecoderCache

    model = _model(config)
    n = len(model.decoder.layers)
    fig, ax = plt.subplots(figsize=(9.0, 5.0), layout="tight")
    ax.set_xlim(0, 9.0)
    ax.set_ylim(-0.6, 5.4)
    ax.axis("off")
    column = [
        Box("newest token y_t", "(B, 1)", "io"),
        Box(
            "Embedding + position t",
            "offset = cache.length",
            "embed",
            Transformer.embed_tgt,
        ),
        Box(
            "Masked self-attention",
            "q: 1 position; K, V: all t",
            "attention",
            type(model.decoder.layers[0]),
        ),
        Box(
            "Cross-attention",
            "K, V of the memory: computed once",
            "attention",
            type(model.decoder.layers[0]),
        ),
        Box(
            "Feed Forward → Linear → log-softmax",
            "(B, V) for position t only",
            "output",
            ModelStepDecoder.step,
        ),
    ]
    spans = _column(ax, 3.0, 0.0, column, repo_url, w=3.6, h=0.55, gap=0.45)
    cache = Box(
        f"{DecoderCache.__name__}: {n} × {LayerCache.__name__}",
        "self: K, V of positions < t, grows by 1",
        "norm",
        LayerCache,
    )
    _draw(ax, 7.2, (spans[2][0] + spans[2][1]) / 2, 3.2, 0.6, cache, repo_url)
    ax.annotate(
        "",
        xy=(7.2 - 1.6, (spans[2][0] + spans[2][1]) / 2),
        xytext=(3.0 + 1.8, (spans[2][0] + spans[2][1]) / 2),
        arrowprops={"arrowstyle": "<|-|>", "color": "#444444", "lw": 1.0},
    )
    memory = Box(
        "memory K, V per layer",
        "projected once per sentence",
        "norm",
        LayerCache,
    )
    _draw(ax, 7.2, (spans[3][0] + spans[3][1]) / 2, 3.2, 0.6, memory, repo_url)
    ax.annotate(
        "",
        xy=(3.0 + 1.8, (spans[3][0] + spans[3][1]) / 2),
        xytext=(7.2 - 1.6, (spans[3][0] + spans[3][1]) / 2),
        arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.0},
    )
    ax.text(
        4.5,
        5.15,
        "One step of cached decoding: O(t) work for position t instead of"
        " O(t²)",
        ha="center",
        fontsize=11,
    )
    return fig


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
