"""The encoder-decoder Transformer (§3.1, Figure 1), built from a
:class:`ModelConfig`.

Shapes: B batch, S source length, T target length, D = d_model, V vocabulary
size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from transformer.config import ModelConfig
from transformer.dropout import Dropout
from transformer.embeddings import PositionalEncoding, TokenEmbedding
from transformer.layers import DecoderLayer, EncoderLayer, LayerCache
from transformer.masks import padding_mask
from transformer.norms import make_norm
from transformer.rope import RotaryEmbedding


def init_parameters(model: nn.Module, config: ModelConfig) -> None:
    """Xavier-uniform for every weight matrix, zero biases; embeddings
    Xavier-uniform or, with ``embed_init="normal"``, N(0, d_model^-0.5) (then
    embedding x sqrt(d_model) has unit variance). The padding row stays
    zero."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            if config.embed_init == "normal":
                nn.init.normal_(module.weight, std=config.d_model**-0.5)
            else:
                nn.init.xavier_uniform_(module.weight)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()


class Encoder(nn.Module):
    """A stack of N encoder layers (§3.1). With pre-norm, a final LayerNorm
    closes the stack."""

    def __init__(
        self, layers: list[EncoderLayer], final_norm: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = final_norm if final_norm is not None else nn.Identity()

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        attn_weights: list[Tensor] | None = None,
    ) -> Tensor:
        """x (B, S, D) embedded source; mask (B, 1, 1, S). Returns the memory
        (B, S, D)."""
        for layer in self.layers:
            x = layer(x, mask, attn_weights)
        return self.norm(x)


@dataclass
class DecoderCache:
    """Keys and values of every decoder layer, for producing one token at a
    time."""

    layers: list[LayerCache]
    length: int = 0  # target positions already decoded

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (B',) in this order, e.g. the surviving
        beams of beam search."""
        for layer in self.layers:
            layer.reorder(index)


class Decoder(nn.Module):
    """A stack of N decoder layers (§3.1). With pre-norm, a final LayerNorm
    closes the stack."""

    def __init__(
        self, layers: list[DecoderLayer], final_norm: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = final_norm if final_norm is not None else nn.Identity()

    def forward(
        self,
        y: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None = None,
        *,
        cache: DecoderCache | None = None,
        attn_weights: list[Tensor] | None = None,
    ) -> Tensor:
        """y (B, T, D) embedded targets; memory (B, S, D); memory_mask (B, 1,
        1, S). Returns (B, T, D)."""
        for i, layer in enumerate(self.layers):
            layer_cache = cache.layers[i] if cache is not None else None
            y = layer(
                y,
                memory,
                memory_mask,
                cache=layer_cache,
                attn_weights=attn_weights,
            )
        return self.norm(y)


class Transformer(nn.Module):
    """The model of §3: embeddings and positional encodings, encoder, decoder,
    tied output projection.

    ``model(src, tgt)`` returns logits (B, T, V) for teacher forcing;
    ``encode`` and ``decode`` split the work for decoding, with an optional
    :class:`DecoderCache` (``new_cache``) for one token at a time.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.architecture != "encoder_decoder":
            raise ValueError(
                f"Transformer is the encoder-decoder of §3; a config with"
                f" architecture={config.architecture!r} builds a"
                " transformer.DecoderOnlyTransformer (transformer.build_model"
                " picks the class from the config)"
            )
        self.config = config
        c = config
        self.src_embed = TokenEmbedding(
            c.vocab_size, c.d_model, c.pad_id, scale=c.scale_embeddings
        )
        if c.share_embeddings:
            self.tgt_embed = self.src_embed
        else:
            self.tgt_embed = TokenEmbedding(
                c.target_vocab_size,
                c.d_model,
                c.pad_id,
                scale=c.scale_embeddings,
            )
        learned = c.positional == "learned"
        # RoPE adds nothing to the embeddings: it rotates queries and keys in
        # every self-attention layer (one table, shared by all of them).
        self.rope = (
            RotaryEmbedding(c.head_dim_k, c.max_len)
            if c.positional == "rope"
            else None
        )
        self.src_pos = (
            None
            if self.rope is not None
            else PositionalEncoding(c.d_model, c.max_len, learned=learned)
        )
        self.tgt_pos = (
            None
            if self.rope is not None
            else PositionalEncoding(c.d_model, c.max_len, learned=learned)
        )
        # on the sums of embeddings and positions (§5.4)
        self.dropout = Dropout(c.dropout)

        def layer_kwargs() -> dict:
            return dict(
                d_k=c.d_k,
                d_v=c.d_v,
                attention_dropout=c.attention_dropout,
                attention_bias=c.attention_bias,
                norm_first=c.norm_first,
                eps=c.layer_norm_eps,
                norm=c.norm,
                activation=c.activation,
                rope=self.rope,
                scoring=c.attention_scoring,
            )

        def final_norm() -> nn.Module | None:
            return (
                make_norm(c.norm, c.d_model, c.layer_norm_eps)
                if c.norm_first
                else None
            )

        self.encoder = Encoder(
            [
                EncoderLayer(
                    c.d_model,
                    c.n_heads,
                    c.ffn_hidden,
                    c.dropout,
                    **layer_kwargs(),
                )
                for _ in range(c.n_layers)
            ],
            final_norm(),
        )
        self.decoder = Decoder(
            [
                DecoderLayer(
                    c.d_model,
                    c.n_heads,
                    c.ffn_hidden,
                    c.dropout,
                    **layer_kwargs(),
                )
                for _ in range(c.n_layers)
            ],
            final_norm(),
        )
        # Pre-softmax linear transformation (§3.4). Tied: the target embedding
        # matrix, no bias.
        self.output = (
            None
            if c.tie_output
            else nn.Linear(c.d_model, c.target_vocab_size, bias=False)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform for every weight matrix, zero biases; embeddings
        Xavier-uniform or N(0, d_model^-0.5) (:func:`init_parameters`)."""
        init_parameters(self, self.config)

    # -- the pieces -----------------------------------------------------------
    def src_mask(self, src: Tensor) -> Tensor:
        """(B, S) -> (B, 1, 1, S), True at real source tokens."""
        return padding_mask(src, self.config.pad_id)

    def embed_src(self, src: Tensor) -> Tensor:
        x = self.src_embed(src)
        return self.dropout(x if self.src_pos is None else self.src_pos(x))

    def embed_tgt(self, tgt: Tensor, offset: int = 0) -> Tensor:
        x = self.tgt_embed(tgt)
        if self.tgt_pos is not None:
            x = self.tgt_pos(x, offset)
        return self.dropout(x)

    @property
    def output_weight(self) -> Tensor:
        """The pre-softmax projection (V, D): the tied target embedding, or the
        untied output layer."""
        return (
            self.tgt_embed.weight
            if self.output is None
            else self.output.weight
        )

    def project(self, h: Tensor) -> Tensor:
        """Decoder states (B, T, D) -> logits (B, T, V)."""
        return h @ self.output_weight.t()

    def encode(
        self, src: Tensor, attn_weights: list[Tensor] | None = None
    ) -> Tensor:
        """Source ids (B, S) -> memory (B, S, D)."""
        return self.encoder(
            self.embed_src(src), self.src_mask(src), attn_weights
        )

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        src_mask: Tensor,
        *,
        cache: DecoderCache | None = None,
        attn_weights: list[Tensor] | None = None,
        project: bool = True,
    ) -> Tensor:
        """Target ids (B, T) -> logits (B, T, V), given memory (B, S, D) and
        src_mask (B, 1, 1, S).

        With a ``cache``, ``tgt`` holds only the positions after
        ``cache.length``; the cache grows. ``project=False`` returns the
        decoder states (B, T, D) before the pre-softmax projection.
        """
        offset = cache.length if cache is not None else 0
        h = self.decoder(
            self.embed_tgt(tgt, offset),
            memory,
            src_mask,
            cache=cache,
            attn_weights=attn_weights,
        )
        if cache is not None:
            cache.length += tgt.size(1)
        return self.project(h) if project else h

    def new_cache(self) -> DecoderCache:
        return DecoderCache(
            [LayerCache() for _ in range(self.config.n_layers)]
        )

    def forward(
        self, src: Tensor, tgt: Tensor, *, project: bool = True
    ) -> Tensor:
        """Teacher forcing. Args: src (B, S), tgt (B, T) token ids (tgt starts
        with BOS).

        Returns: logits (B, T, V); position t predicts target token t + 1.
        With ``project=False``, the decoder states (B, T, D) instead, for a
        loss that applies the projection itself (the trainer's
        ``projected_label_smoothed_cross_entropy``, in ``train/loss.py``).
        """
        src_mask = self.src_mask(src)
        return self.decode(tgt, self.encode(src), src_mask, project=project)

    def attention_maps(
        self, src: Tensor, tgt: Tensor
    ) -> dict[str, list[Tensor]]:
        """Attention weights of every layer, each (B, h, T_q, T_k), for
        drawing.

        Keys: "encoder" (N self-attentions), "decoder_self" and "decoder_cross"
        (N each).
        """
        enc: list[Tensor] = []
        dec: list[Tensor] = []
        memory = self.encode(src, attn_weights=enc)
        self.decode(tgt, memory, self.src_mask(src), attn_weights=dec)
        return {
            "encoder": enc,
            "decoder_self": dec[0::2],
            "decoder_cross": dec[1::2],
        }

    def num_parameters(self) -> int:
        """Distinct trainable parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
