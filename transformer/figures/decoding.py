"""One decoding step with the key/value cache, drawn from the code."""

from __future__ import annotations

from typing import Any

from transformer.config import ModelConfig
from transformer.figures.boxes import Box, column, draw, meta_model
from transformer.model import Transformer


def decoding_step(config: ModelConfig, repo_url: str | None = None) -> Any:
    """One step of cached decoding: the newest token only, keys and values of
    earlier positions reused."""
    import matplotlib.pyplot as plt

    from transformer.decode.stepper import ModelStepDecoder
    from transformer.layers import LayerCache
    from transformer.model import DecoderCache

    model = meta_model(config)
    n = len(model.decoder.layers)
    fig, ax = plt.subplots(figsize=(9.0, 5.0), layout="tight")
    ax.set_xlim(0, 9.0)
    ax.set_ylim(-0.6, 5.4)
    ax.axis("off")
    boxes = [
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
    spans = column(ax, 3.0, 0.0, boxes, repo_url, w=3.6, h=0.55, gap=0.45)
    cache = Box(
        f"{DecoderCache.__name__}: {n} × {LayerCache.__name__}",
        "self: K, V of positions < t, grows by 1",
        "norm",
        LayerCache,
    )
    draw(ax, 7.2, (spans[2][0] + spans[2][1]) / 2, 3.2, 0.6, cache, repo_url)
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
    draw(ax, 7.2, (spans[3][0] + spans[3][1]) / 2, 3.2, 0.6, memory, repo_url)
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
