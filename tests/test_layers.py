"""Encoder/decoder layers and the whole model against torch.nn.Transformer*, on
copied weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transformer import ModelConfig, Transformer
from transformer.layers import DecoderLayer, EncoderLayer
from transformer.reference import copy_decoder_layer, copy_encoder_layer

D, H, FF = 32, 4, 64


def _randomise(module: nn.Module) -> None:
    """Non-trivial LayerNorm and bias values, so that a swapped parameter
    cannot go unnoticed."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(
                torch.randn_like(p) * 0.2
                + (1.0 if p.dim() == 1 and p.shape[0] == D else 0.0)
            )


SRC_TOKENS = torch.tensor([[5, 6, 7, 8, 9, 4], [5, 6, 7, 0, 0, 0]])
KEY_MASK = (SRC_TOKENS != 0)[:, None, None, :]  # ours: True = attend
KEY_PAD = SRC_TOKENS == 0  # torch: True = ignore


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_torch(norm_first: bool) -> None:
    ours = EncoderLayer(D, H, FF, dropout=0.0, norm_first=norm_first)
    _randomise(ours)
    ref = nn.TransformerEncoderLayer(
        D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first
    )
    copy_encoder_layer(ours, ref)
    x = torch.randn(2, 6, D)
    # Train mode (dropout is 0) keeps torch off its nested-tensor fast path,
    # which zeroes pad rows.
    torch.testing.assert_close(
        ours(x, KEY_MASK), ref(x, src_key_padding_mask=KEY_PAD)
    )


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first: bool) -> None:
    ours = DecoderLayer(D, H, FF, dropout=0.0, norm_first=norm_first)
    _randomise(ours)
    ref = nn.TransformerDecoderLayer(
        D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first
    )
    copy_decoder_layer(ours, ref)
    y, memory = torch.randn(2, 5, D), torch.randn(2, 6, D)
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    expected = ref(
        y,
        memory,
        tgt_mask=causal,
        memory_key_padding_mask=KEY_PAD,
        tgt_is_causal=True,
    )
    torch.testing.assert_close(ours(y, memory, KEY_MASK), expected)


def test_whole_model_matches_torch_transformer_on_same_embeddings() -> None:
    cfg = ModelConfig.tiny(
        vocab_size=40, d_model=D, n_heads=H, d_ff=FF, n_layers=3, dropout=0.0
    )
    model = Transformer(cfg)
    _randomise(model.encoder)
    _randomise(model.decoder)
    ref = nn.Transformer(
        D,
        H,
        num_encoder_layers=3,
        num_decoder_layers=3,
        dim_feedforward=FF,
        dropout=0.0,
        batch_first=True,
    )
    # The paper's post-norm stacks end with the last layer's LayerNorm; torch
    # adds one more per stack.
    ref.encoder.norm = nn.Identity()
    ref.decoder.norm = nn.Identity()
    for ours_layer, ref_layer in zip(model.encoder.layers, ref.encoder.layers):
        copy_encoder_layer(ours_layer, ref_layer)
    for ours_layer, ref_layer in zip(model.decoder.layers, ref.decoder.layers):
        copy_decoder_layer(ours_layer, ref_layer)

    src = SRC_TOKENS
    tgt = torch.tensor([[1, 11, 12, 13, 14], [1, 21, 22, 0, 0]])
    logits = model(src, tgt)
    ref_states = ref(
        model.embed_src(src),
        model.embed_tgt(tgt),
        tgt_mask=nn.Transformer.generate_square_subsequent_mask(5),
        tgt_is_causal=True,
        src_key_padding_mask=KEY_PAD,
        memory_key_padding_mask=KEY_PAD,
    )
    torch.testing.assert_close(logits, model.project(ref_states))
    assert logits.shape == (2, 5, 40)
