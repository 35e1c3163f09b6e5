"""A decoder-only Transformer for translation (after the paper): GPT's design
(Radford et al., 2018) on ``source <sep> target``, and the prefix-LM variant
(Raffel et al., 2020, §3.2.1), built from the paper's own layers.

One stack of N layers -- each the encoder layer of §3.1 (self-attention, then
the FFN), given a mask that makes it causal and a key/value cache -- reads the
source and the target as one sequence:

    x = [PAD .. PAD, s_1 .. s_m, EOS | BOS, y_1 .. y_n, PAD ..]
         the source, left-padded (S) | Batch.tgt_in, right-padded (T)

The source's EOS is the separator. Left-padding puts every target in the same
columns S .. S + T - 1, so the states there predict ``Batch.tgt_out`` and the
loss is the encoder-decoder's, on the target only. Positions count real tokens
(position = real tokens before it), so a sentence's positions, and therefore
its output, do not depend on how much padding its batch needs.

Masks (bool, True = may attend, as everywhere in :mod:`transformer.masks`):

* ``decoder_only``: key j is a real token and j <= i (causal everywhere);
* ``prefix_lm``: key j is a real token and (j <= i or j is in the source): the
  source is read bidirectionally, as an encoder reads it, and the target
  causally. No source position ever sees the target.

Decoding runs the source through the stack once (``prefill``), keeping every
layer's keys and values, then extends the cache one token at a time (``step``)
-- the same protocol that greedy and beam search use for the encoder-decoder
(:mod:`transformer.decode.stepper`).

Shapes: B batch, S source columns, T target columns, L = S + T, D = d_model,
V vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from transformer.config import ModelConfig
from transformer.dropout import Dropout
from transformer.embeddings import PositionalEncoding, TokenEmbedding
from transformer.layers import EncoderLayer, LayerCache
from transformer.masks import causal_mask
from transformer.model import init_parameters
from transformer.norms import make_norm
from transformer.rope import RotaryEmbedding


def left_align(src: Tensor, pad_id: int) -> Tensor:
    """Right-padded (B, S) ids -> left-padded (B, S): each row's real tokens
    moved to its end, in order."""
    _, s = src.shape
    lengths = (src != pad_id).sum(dim=1, keepdim=True)  # (B, 1)
    # the source column each output column reads; < 0: padding
    cols = torch.arange(s, device=src.device)[None, :] - (s - lengths)
    out = src.gather(1, cols.clamp(min=0))  # (B, S)
    return out.masked_fill(cols < 0, pad_id)


def token_positions(real: Tensor) -> Tensor:
    """(B, L) real-token flags -> (B, L) positions: the number of real tokens
    before each column (padding columns get their neighbour's, unused)."""
    return (real.long().cumsum(dim=1) - 1).clamp(min=0)


def sequence_mask(real: Tensor, prefix: int | None = None) -> Tensor:
    """(B, L) real-token flags -> (B, 1, L, L), True = may attend.

    Causal over the whole sequence; with ``prefix`` = S, the first S columns
    (the source) are visible to every query, as in a prefix LM.
    """
    length = real.size(1)
    allowed = causal_mask(length, device=real.device)  # (L, L)
    if prefix is not None:
        in_prefix = torch.arange(length, device=real.device) < prefix
        allowed = allowed | in_prefix[None, :]
    return real[:, None, None, :] & allowed


class DecoderOnlyLayer(EncoderLayer):
    """The encoder layer of §3.1 (self-attention, FFN, residuals) with the
    masks and cache of a decoder-only model: positions per row (for RoPE) and,
    while decoding, keys and values kept in a :class:`LayerCache`."""

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        mask: Tensor,
        positions: Tensor,
        *,
        cache: LayerCache | None = None,
        attn_weights: list[Tensor] | None = None,
    ) -> Tensor:
        """x (B, T, D) the new positions; mask (B, 1, T, K) over every key so
        far (K = cached + T); positions (B, T). Returns (B, T, D)."""
        need = attn_weights is not None

        def self_attention(h: Tensor) -> Tensor:
            k, v = self.self_attn.project_kv(h, h, offset=positions)
            if cache is not None:
                if cache.self_k is not None and cache.self_v is not None:
                    # (B, h, K_past + T, d_k)
                    k = torch.cat([cache.self_k, k], dim=2)
                    v = torch.cat([cache.self_v, v], dim=2)
                cache.self_k, cache.self_v = k, v
            out, w = self.self_attn.attend(
                h, k, v, mask, need_weights=need, offset=positions
            )
            if attn_weights is not None and w is not None:
                attn_weights.append(w)
            return out

        x = self.res_attn(x, self_attention)
        return self.res_ffn(x, self.ffn)


@dataclass
class DecoderOnlyCache:
    """Everything decoding needs after the source: every layer's keys and
    values (B, h, K, d), which keys are real tokens (B, K), and the position of
    the next token (B,)."""

    layers: list[LayerCache]
    real: Tensor
    next_position: Tensor

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (B',) in this order (surviving beams)."""
        for layer in self.layers:
            layer.reorder(index)
        self.real = self.real.index_select(0, index)
        self.next_position = self.next_position.index_select(0, index)

    def repeat_interleave(self, repeat: int) -> None:
        """Row b becomes rows b·repeat .. b·repeat + repeat - 1 (beams)."""
        rows = torch.arange(self.real.size(0), device=self.real.device)
        self.reorder(rows.repeat_interleave(repeat))


class DecoderOnlyTransformer(nn.Module):
    """A decoder-only (``architecture="decoder_only"``) or prefix-LM
    (``"prefix_lm"``) translation model: the interface of
    :class:`transformer.model.Transformer` for training (``model(src, tgt)``)
    and decoding (``prefill`` / ``step`` instead of ``encode`` / ``decode``).

    One embedding matrix for every token (one joint vocabulary), tied to the
    pre-softmax projection as in §3.4; one positional table (or RoPE).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.architecture == "encoder_decoder":
            raise ValueError(
                "DecoderOnlyTransformer needs ModelConfig.architecture"
                " 'decoder_only' or 'prefix_lm'; build an encoder-decoder"
                " with transformer.Transformer (or transformer.build_model)"
            )
        self.config = c = config
        self.embed = TokenEmbedding(
            c.vocab_size, c.d_model, c.pad_id, scale=c.scale_embeddings
        )
        self.rope = (
            RotaryEmbedding(c.head_dim_k, c.max_len)
            if c.positional == "rope"
            else None
        )
        self.pos = (
            None
            if self.rope is not None
            else PositionalEncoding(
                c.d_model, c.max_len, learned=c.positional == "learned"
            )
        )
        self.dropout = Dropout(c.dropout)
        self.layers = nn.ModuleList(
            [
                DecoderOnlyLayer(
                    c.d_model,
                    c.n_heads,
                    c.ffn_hidden,
                    c.dropout,
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
                for _ in range(c.n_layers)
            ]
        )
        self.norm = (
            make_norm(c.norm, c.d_model, c.layer_norm_eps)
            if c.norm_first
            else nn.Identity()
        )
        self.output = (
            None
            if c.tie_output
            else nn.Linear(c.d_model, c.vocab_size, bias=False)
        )
        init_parameters(self, c)

    # -- the pieces -----------------------------------------------------------
    @property
    def output_weight(self) -> Tensor:
        """The pre-softmax projection (V, D): the tied embedding, or the
        untied output layer."""
        return self.embed.weight if self.output is None else self.output.weight

    def project(self, h: Tensor) -> Tensor:
        """States (B, T, D) -> logits (B, T, V)."""
        return h @ self.output_weight.t()

    def sequence(self, src: Tensor, tgt: Tensor) -> Tensor:
        """Right-padded source (B, S) and target input (B, T) -> the model's
        one sequence (B, S + T), source left-padded."""
        return torch.cat([left_align(src, self.config.pad_id), tgt], dim=1)

    def _check_positions(self, last: int) -> None:
        if last >= self.config.max_len:
            raise ValueError(
                f"source and target need positions up to {last}, beyond the"
                f" positional table (max_len={self.config.max_len}); a"
                " decoder-only model spends positions on the source too:"
                " truncate the input or build the model with a larger"
                " ModelConfig.max_len"
            )

    def _embed(self, ids: Tensor, positions: Tensor) -> Tensor:
        x = self.embed(ids)
        if self.pos is not None:
            x = self.pos(x, positions)
        return self.dropout(x)

    def _stack(
        self,
        x: Tensor,
        mask: Tensor,
        positions: Tensor,
        cache: DecoderOnlyCache | None = None,
        attn_weights: list[Tensor] | None = None,
    ) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(
                x,
                mask,
                positions,
                cache=None if cache is None else cache.layers[i],
                attn_weights=attn_weights,
            )
        return self.norm(x)

    def _prefix(self, src_len: int) -> int | None:
        return src_len if self.config.architecture == "prefix_lm" else None

    # -- training -------------------------------------------------------------
    def hidden_states(
        self,
        src: Tensor,
        tgt: Tensor,
        attn_weights: list[Tensor] | None = None,
    ) -> Tensor:
        """The last layer's states (B, S + T, D) over the whole sequence
        ``sequence(src, tgt)``: source columns, then target columns."""
        ids = self.sequence(src, tgt)  # (B, L)
        real = ids != self.config.pad_id
        positions = token_positions(real)  # (B, L)
        self._check_positions(int(positions.max()))
        mask = sequence_mask(real, self._prefix(src.size(1)))
        return self._stack(
            self._embed(ids, positions), mask, positions, None, attn_weights
        )

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        *,
        project: bool = True,
        attn_weights: list[Tensor] | None = None,
    ) -> Tensor:
        """Teacher forcing. Args: src (B, S), tgt (B, T) token ids, both
        right-padded (tgt starts with BOS), as in a
        :class:`transformer.data.Batch`.

        Returns: logits (B, T, V) of the target columns only; position t
        predicts target token t + 1 (the loss is on the target alone).
        ``project=False`` gives the states (B, T, D) instead (for the
        trainer's fused loss).
        """
        h = self.hidden_states(src, tgt, attn_weights)
        h = h[:, src.size(1) :]  # (B, T, D): the target columns
        return self.project(h) if project else h

    def attention_maps(
        self, src: Tensor, tgt: Tensor
    ) -> dict[str, list[Tensor]]:
        """Self-attention weights of every layer, each (B, h, L, L) over the
        one sequence (``sequence(src, tgt)``), for drawing. Key: "self"."""
        weights: list[Tensor] = []
        self.hidden_states(src, tgt, weights)
        return {"self": weights}

    # -- decoding -------------------------------------------------------------
    def prefill(self, src: Tensor) -> DecoderOnlyCache:
        """Run the source (B, S), right-padded, through the stack once; the
        returned cache holds every layer's keys and values for ``step``."""
        ids = left_align(src, self.config.pad_id)
        real = ids != self.config.pad_id
        positions = token_positions(real)
        self._check_positions(int(real.sum(dim=1).max()))
        cache = DecoderOnlyCache(
            [LayerCache() for _ in self.layers],
            real,
            real.sum(dim=1),  # the separator's successor: BOS
        )
        mask = sequence_mask(real, self._prefix(src.size(1)))
        self._stack(self._embed(ids, positions), mask, positions, cache)
        return cache

    def step(self, tokens: Tensor, cache: DecoderOnlyCache) -> Tensor:
        """The next tokens (B, 1) after ``cache`` -> logits (B, 1, V); the
        cache grows by one column."""
        positions = cache.next_position[:, None]  # (B, 1)
        self._check_positions(int(positions.max()))
        cache.real = torch.cat(
            [cache.real, torch.ones_like(tokens, dtype=torch.bool)], dim=1
        )
        # the new token is the last: it may attend to every real key
        mask = cache.real[:, None, None, :]  # (B, 1, 1, K)
        h = self._stack(self._embed(tokens, positions), mask, positions, cache)
        cache.next_position = cache.next_position + 1
        return self.project(h)

    def num_parameters(self) -> int:
        """Distinct trainable parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
