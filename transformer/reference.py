"""PyTorch's own Transformer modules loaded with this package's weights: the
independent references that the tests and the book compare against (one
harness, so both check the same thing).

PyTorch's ``nn.MultiheadAttention`` keeps W^Q, W^K and W^V stacked in one
``in_proj_weight`` (3D, D); ours keeps three matrices.
``nn.TransformerEncoderLayer`` / ``DecoderLayer`` name their feed-forward
``linear1`` / ``linear2`` and their norms ``norm1..3``. With the same weights,
dropout off and ReLU, they must compute what ours compute. (Their boolean masks
mean the opposite of ours: True = may *not* attend.)
"""

from __future__ import annotations

import torch
from torch import nn

from transformer.attention import MultiHeadAttention
from transformer.layers import DecoderLayer, EncoderLayer


@torch.no_grad()
def copy_attention(
    ours: MultiHeadAttention, theirs: nn.MultiheadAttention
) -> nn.MultiheadAttention:
    """Our W^Q, W^K, W^V, W^O (and biases) into ``theirs``; returns it."""
    theirs.in_proj_weight.copy_(
        torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight])
    )
    theirs.in_proj_bias.copy_(
        torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias])
    )
    theirs.out_proj.weight.copy_(ours.w_o.weight)
    theirs.out_proj.bias.copy_(ours.w_o.bias)
    return theirs


def torch_attention(
    ours: MultiHeadAttention, d_model: int
) -> nn.MultiheadAttention:
    """A new ``nn.MultiheadAttention`` (batch first) holding our weights."""
    return copy_attention(
        ours, nn.MultiheadAttention(d_model, ours.n_heads, batch_first=True)
    )


@torch.no_grad()
def _copy_pairs(pairs: list[tuple[nn.Module, nn.Module]]) -> None:
    for src, dst in pairs:
        dst.weight.copy_(src.weight)
        dst.bias.copy_(src.bias)


def copy_encoder_layer(
    ours: EncoderLayer, theirs: nn.TransformerEncoderLayer
) -> nn.TransformerEncoderLayer:
    copy_attention(ours.self_attn, theirs.self_attn)
    _copy_pairs(
        [
            (ours.ffn.w_1, theirs.linear1),
            (ours.ffn.w_2, theirs.linear2),
            (ours.res_attn.norm, theirs.norm1),
            (ours.res_ffn.norm, theirs.norm2),
        ]
    )
    return theirs


def copy_decoder_layer(
    ours: DecoderLayer, theirs: nn.TransformerDecoderLayer
) -> nn.TransformerDecoderLayer:
    copy_attention(ours.self_attn, theirs.self_attn)
    copy_attention(ours.cross_attn, theirs.multihead_attn)
    _copy_pairs(
        [
            (ours.ffn.w_1, theirs.linear1),
            (ours.ffn.w_2, theirs.linear2),
            (ours.res_self.norm, theirs.norm1),
            (ours.res_cross.norm, theirs.norm2),
            (ours.res_ffn.norm, theirs.norm3),
        ]
    )
    return theirs


def torch_encoder_layer(
    ours: EncoderLayer,
    d_model: int,
    n_heads: int,
    d_ff: int,
    norm_first: bool = False,
) -> nn.TransformerEncoderLayer:
    """A new ``nn.TransformerEncoderLayer`` (dropout 0, ReLU, batch first)
    holding our weights."""
    theirs = nn.TransformerEncoderLayer(
        d_model,
        n_heads,
        d_ff,
        dropout=0.0,
        batch_first=True,
        norm_first=norm_first,
    )
    return copy_encoder_layer(ours, theirs)


def torch_decoder_layer(
    ours: DecoderLayer,
    d_model: int,
    n_heads: int,
    d_ff: int,
    norm_first: bool = False,
) -> nn.TransformerDecoderLayer:
    """A new ``nn.TransformerDecoderLayer`` (dropout 0, ReLU, batch first)
    holding our weights."""
    theirs = nn.TransformerDecoderLayer(
        d_model,
        n_heads,
        d_ff,
        dropout=0.0,
        batch_first=True,
        norm_first=norm_first,
    )
    return copy_decoder_layer(ours, theirs)
