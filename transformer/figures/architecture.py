"""The paper's Figure 1, read off a model built from a config."""

from __future__ import annotations

from typing import Any

from torch import nn

from transformer.config import ModelConfig
from transformer.figures.boxes import Box, arrow, column, draw, meta_model
from transformer.model import Transformer


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

    model = meta_model(config)
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
    left = column(ax, 2.2, 0.0, [inputs, embed, pos, *enc], repo_url)
    right = column(ax, 6.7, 0.0, [outputs, embed, pos, *dec], repo_url)
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
    arrow(ax, lane_x, memory_y, 6.7 - 1.65, memory_y)
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
    _, b = draw(ax, 6.7, top + 0.6, 3.3, 0.55, project, repo_url)
    arrow(ax, 6.7, top, 6.7, b)
    t2, b2 = draw(ax, 6.7, top + 1.45, 3.3, 0.55, softmax, repo_url)
    arrow(ax, 6.7, top + 0.6 + 0.275, 6.7, b2)
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
