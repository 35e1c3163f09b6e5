"""The paper's Figure 2: scaled dot-product attention and multi-head
attention, each box linked to the code that computes it."""

from __future__ import annotations

from typing import Any

from transformer.config import ModelConfig
from transformer.figures.boxes import Box, column, meta_model


def multi_head_attention(
    config: ModelConfig, repo_url: str | None = None
) -> Any:
    """The paper's Figure 2: scaled dot-product attention (left) and multi-head
    attention (right)."""
    import matplotlib.pyplot as plt

    from transformer import attention as attn

    model = meta_model(config)
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
    column(ax, 2.0, 0.0, left, repo_url, w=3.0, h=0.5, gap=0.42)
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
    column(ax, 6.6, 0.0, right, repo_url, w=3.3, h=0.5, gap=0.62)
    ax.text(
        6.6,
        5.35,
        f"Multi-Head Attention ({cls.__name__})",
        ha="center",
        fontsize=11,
    )
    return fig
