"""Floating-point operations of training, counted from the model's shape (for
MFU and Table 2's cost column).

Per *target* token of a training step (forward + backward = 3 x forward, 2
FLOPs per multiply-add):

    6 x (parameters a target token touches)
        + 6 x 2 x N x d_model x (attended key positions)

The first term is the usual 6N rule, with the parameters that run once per
source token weighted by S/T (the encoder, and the decoder's cross-attention
W^K and W^V, applied to the memory), the pre-softmax projection (d_model x V)
included, the embedding lookups excluded (they are not multiplications). Gated
feed-forward layers count their third matrix. The second counts Q K^T and the
weighted sum of V: encoder self-attention over S keys (S/T times per target
token), causal decoder self-attention over T/2 keys on average, and
cross-attention over S keys. Shapes: S source length, T target length.

A decoder-only model (``architecture="decoder_only"`` or ``"prefix_lm"``) runs
every layer on the source columns too, so its layers' parameters are weighted
by (S + T) / T (the output projection is not: it runs on the target); its
attention is causal over all S + T positions ((S + T)^2 / 2
key pairs), or, in a prefix LM, bidirectional over the source (S^2) and causal
over the target with the whole source visible (T S + T^2 / 2).
"""

from __future__ import annotations

from transformer.config import ModelConfig


def flops_per_target_token(
    c: ModelConfig, src_len: float, tgt_len: float
) -> float:
    """Training FLOPs (forward + backward) per target token of a batch of
    source length S, target length T."""
    d, f, n = c.d_model, c.ffn_hidden, c.n_layers
    hk = c.n_heads * (c.d_k or d // c.n_heads)
    hv = c.n_heads * (c.d_v or d // c.n_heads)
    # gated variants have a third matrix
    ffn = (3 if c.activation in ("glu", "geglu", "swiglu") else 2) * d * f
    attn_q_o = d * hk + hv * d  # W^Q and W^O: once per query position
    attn_k_v = d * hk + d * hv  # W^K and W^V: once per key position
    enc = attn_q_o + attn_k_v + ffn  # per source token
    if c.architecture != "encoder_decoder":  # one stack over S + T columns
        length = src_len + tgt_len
        params = n * enc * length / tgt_len + d * c.target_vocab_size
        pairs = (
            length * length / 2
            if c.architecture == "decoder_only"
            else src_len * src_len + tgt_len * src_len + tgt_len**2 / 2
        )
        return 6 * params + 6 * 2 * n * hk * pairs / tgt_len
    # per target token: self-attention, cross Q/O, FFN
    dec = (attn_q_o + attn_k_v) + attn_q_o + ffn
    # cross-attention K/V: per source token (computed once per memory position)
    cross_kv = attn_k_v
    params = (
        n * ((enc + cross_kv) * src_len / tgt_len + dec)
        + d * c.target_vocab_size
    )
    attention = (
        2 * n * hk * (src_len * src_len / tgt_len + tgt_len / 2 + src_len)
    )
    return 6 * params + 6 * attention
