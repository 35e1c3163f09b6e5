"""Encoder and decoder layers (§3.1) with residual connections, dropout and
layer normalisation.

Each sub-layer is wrapped as in §3.1 and §5.4: ``LayerNorm(x +
Dropout(Sublayer(x)))`` (post-norm, the paper's placement, the default).
``norm_first=True`` gives ``x + Dropout(Sublayer(LayerNorm(x)))`` (pre-norm), a
deviation listed in the book.

Attention weights are returned only on request: pass a list as ``attn_weights``
and each attention sub-layer appends its (B, h, T_q, T_k) weights to it. The
layers themselves keep no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from transformer.attention import MultiHeadAttention
from transformer.dropout import Dropout
from transformer.feed_forward import Activation, PositionwiseFeedForward
from transformer.norms import Norm, make_norm
from transformer.rope import RotaryEmbedding
from transformer.scoring import Scoring


class Residual(nn.Module):
    """One sub-layer's residual connection, dropout and LayerNorm, in post- or
    pre-norm order."""

    def __init__(
        self,
        d_model: int,
        dropout: float,
        norm_first: bool,
        eps: float,
        norm: Norm = "layer",
    ) -> None:
        super().__init__()
        self.norm = make_norm(norm, d_model, eps)
        self.dropout = Dropout(dropout)
        self.norm_first = norm_first

    def forward(
        self, x: Tensor, sublayer: Callable[[Tensor], Tensor]
    ) -> Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


class EncoderLayer(nn.Module):
    """§3.1: multi-head self-attention, then a position-wise FFN, each in a
    residual block."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        *,
        d_k: int | None = None,
        d_v: int | None = None,
        attention_dropout: float = 0.0,
        attention_bias: bool = True,
        norm_first: bool = False,
        eps: float = 1e-5,
        norm: Norm = "layer",
        activation: Activation = "relu",
        rope: RotaryEmbedding | None = None,
        scoring: Scoring = "scaled_dot",
    ) -> None:
        super().__init__()
        attention = partial(
            MultiHeadAttention,
            d_model,
            n_heads,
            d_k,
            d_v,
            attention_dropout,
            attention_bias,
            scoring=scoring,
        )
        self.self_attn = attention(rope=rope)
        self.ffn = PositionwiseFeedForward(
            d_model, d_ff, activation=activation
        )
        self.res_attn = Residual(d_model, dropout, norm_first, eps, norm)
        self.res_ffn = Residual(d_model, dropout, norm_first, eps, norm)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        attn_weights: list[Tensor] | None = None,
    ) -> Tensor:
        """x (B, S, D); mask bool broadcastable to (B, h, S, S). Returns (B, S,
        D)."""

        def self_attention(h: Tensor) -> Tensor:
            out, w = self.self_attn(
                h, h, h, mask, need_weights=attn_weights is not None
            )
            if attn_weights is not None and w is not None:
                attn_weights.append(w)
            return out

        x = self.res_attn(x, self_attention)
        return self.res_ffn(x, self.ffn)


@dataclass
class LayerCache:
    """One decoder layer's keys and values during incremental decoding, each
    (B, h, T, d)."""

    self_k: Tensor | None = None
    self_v: Tensor | None = None
    cross_k: Tensor | None = None
    cross_v: Tensor | None = None

    def reorder(self, index: Tensor) -> None:
        for name in ("self_k", "self_v", "cross_k", "cross_v"):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.index_select(0, index))


class DecoderLayer(nn.Module):
    """§3.1: masked self-attention, attention over the encoder output, FFN,
    each in a residual block."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        *,
        d_k: int | None = None,
        d_v: int | None = None,
        attention_dropout: float = 0.0,
        attention_bias: bool = True,
        norm_first: bool = False,
        eps: float = 1e-5,
        norm: Norm = "layer",
        activation: Activation = "relu",
        rope: RotaryEmbedding | None = None,
        scoring: Scoring = "scaled_dot",
    ) -> None:
        super().__init__()
        attention = partial(
            MultiHeadAttention,
            d_model,
            n_heads,
            d_k,
            d_v,
            attention_dropout,
            attention_bias,
            scoring=scoring,
        )
        self.self_attn = attention(rope=rope)
        self.cross_attn = attention()  # keys from the encoder: no rotation
        self.ffn = PositionwiseFeedForward(
            d_model, d_ff, activation=activation
        )
        self.res_self = Residual(d_model, dropout, norm_first, eps, norm)
        self.res_cross = Residual(d_model, dropout, norm_first, eps, norm)
        self.res_ffn = Residual(d_model, dropout, norm_first, eps, norm)

    def forward(
        self,
        y: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None = None,
        *,
        cache: LayerCache | None = None,
        attn_weights: list[Tensor] | None = None,
    ) -> Tensor:
        """y (B, T, D) targets so far; memory (B, S, D) encoder output;
        memory_mask broadcastable to (B, h, T, S). With ``cache``, ``y`` holds
        only the new positions and earlier keys and values come from the cache,
        which is updated in place. Returns (B, T, D).
        """
        need = attn_weights is not None

        def self_attention(h: Tensor) -> Tensor:
            if cache is None:
                out, w = self.self_attn(
                    h, h, h, is_causal=True, need_weights=need
                )
            else:
                past = 0 if cache.self_k is None else cache.self_k.size(2)
                k, v = self.self_attn.project_kv(h, h, offset=past)
                if cache.self_k is not None and cache.self_v is not None:
                    # (B, h, T_past + T, d_k)
                    k = torch.cat([cache.self_k, k], dim=2)
                    v = torch.cat([cache.self_v, v], dim=2)
                cache.self_k, cache.self_v = k, v
                # New queries are the last positions of the keys: causal with
                # an offset (one step: no mask).
                out, w = self.self_attn.attend(
                    h,
                    k,
                    v,
                    is_causal=h.size(1) > 1,
                    need_weights=need,
                    offset=past,
                )
            if attn_weights is not None and w is not None:
                attn_weights.append(w)
            return out

        def cross_attention(h: Tensor) -> Tensor:
            if cache is None:
                k, v = self.cross_attn.project_kv(memory, memory)
            else:
                if cache.cross_k is None or cache.cross_v is None:
                    cache.cross_k, cache.cross_v = self.cross_attn.project_kv(
                        memory, memory
                    )
                k, v = cache.cross_k, cache.cross_v
            out, w = self.cross_attn.attend(
                h, k, v, memory_mask, need_weights=need
            )
            if attn_weights is not None and w is not None:
                attn_weights.append(w)
            return out

        y = self.res_self(y, self_attention)
        y = self.res_cross(y, cross_attention)
        return self.res_ffn(y, self.ffn)
