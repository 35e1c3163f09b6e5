"""The model's configuration: one typed dataclass with the paper's defaults
(Table 3, "base").

Only :class:`transformer.model.Transformer` reads a ``ModelConfig``; every
sub-module takes explicit keyword arguments so that it can be built and tested
alone.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from transformer.attention import head_dim
from transformer.feed_forward import GATED, PLAIN, Activation, matched_d_ff
from transformer.norms import Norm
from transformer.scoring import SCORINGS, Scoring

Positional = Literal["sinusoidal", "learned", "rope"]
EmbedInit = Literal["xavier", "normal"]
Architecture = Literal["encoder_decoder", "decoder_only", "prefix_lm"]
ARCHITECTURES = ("encoder_decoder", "decoder_only", "prefix_lm")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the encoder-decoder Transformer (§3, Table 3).

    The defaults are the paper's base model. ``tgt_vocab_size=None`` means one
    vocabulary shared by source and target (§3.4 with a shared BPE vocabulary,
    §5.1).
    """

    vocab_size: int
    # None: source and target share one vocabulary (§3.4)
    tgt_vocab_size: int | None = None
    d_model: int = 512
    n_heads: int = 8
    # None: d_model // n_heads (§3.2.2); Table 3 row (B) varies it
    d_k: int | None = None
    d_v: int | None = None  # None: d_model // n_heads
    d_ff: int = 2048
    n_layers: int = 6  # N, for the encoder and the decoder (§3.1)
    dropout: float = 0.1  # P_drop, residual and embedding dropout (§5.4)
    # dropout on attention weights; not in the paper (off)
    attention_dropout: float = 0.0
    max_len: int = 1024  # rows of the positional table (§3.5)
    # "learned": Table 3 row (E); "rope": rotary, in attention (post-paper)
    positional: Positional = "sinusoidal"
    # False: post-norm LayerNorm(x + Sublayer(x)) as in §3.1
    norm_first: bool = False
    # one embedding matrix for source and target (§3.4)
    share_embeddings: bool = True
    # pre-softmax projection = target embedding matrix (§3.4)
    tie_output: bool = True
    # multiply embeddings by sqrt(d_model) (§3.4)
    scale_embeddings: bool = True
    layer_norm_eps: float = 1e-5  # not given in the paper; PyTorch's default
    # "rms": RMSNorm, as in T5 and LLaMA (after the paper)
    norm: Norm = "layer"
    # Eq. (2); "gelu", or gated "glu" / "geglu" / "swiglu" (after the paper)
    activation: Activation = "relu"
    # gated activations: d_ff x 2/3, so the FFN keeps its parameter count
    match_ffn_params: bool = False
    # biases in W^Q, W^K, W^V, W^O; Eq. (1) shows none, torch's MHA has them
    attention_bias: bool = True
    # Eq. (1); "dot", "general" or "additive": the scorings of §3.2.1
    attention_scoring: Scoring = "scaled_dot"
    # "normal": N(0, d_model^-0.5) as in tensor2tensor and fairseq
    embed_init: EmbedInit = "xavier"
    # "decoder_only": one causal stack over source <sep> target (GPT);
    # "prefix_lm": the same, the source seen bidirectionally (after the paper)
    architecture: Architecture = "encoder_decoder"
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "d_model",
            "n_heads",
            "d_ff",
            "n_layers",
            "max_len",
        ):
            value = getattr(self, name)
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value <= 0
            ):
                raise ValueError(
                    f"ModelConfig.{name} must be a positive integer, got"
                    f" {value!r}"
                )
        for name in ("tgt_vocab_size", "d_k", "d_v"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value <= 0
            ):
                raise ValueError(
                    f"ModelConfig.{name} must be a positive integer or None,"
                    f" got {value!r}"
                )
        if (
            self.d_k is None or self.d_v is None
        ) and self.d_model % self.n_heads != 0:
            raise ValueError(
                f"ModelConfig.d_model ({self.d_model}) must be divisible by"
                f" n_heads ({self.n_heads}) so that d_k = d_v = d_model /"
                " n_heads (§3.2.2); change one of them or set d_k and d_v"
            )
        for name in ("dropout", "attention_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(
                    f"ModelConfig.{name} must lie in [0, 1), got {value!r}"
                )
        if self.positional not in ("sinusoidal", "learned", "rope"):
            raise ValueError(
                "ModelConfig.positional must be 'sinusoidal', 'learned' or"
                f" 'rope', got {self.positional!r}"
            )
        if self.positional == "rope" and self.head_dim_k % 2:
            raise ValueError(
                "ModelConfig.positional='rope' rotates pairs of features, so"
                f" d_k must be even, got {self.head_dim_k}; change d_k or"
                " d_model / n_heads"
            )
        if self.attention_scoring not in SCORINGS:
            raise ValueError(
                "ModelConfig.attention_scoring must be one of"
                f" {', '.join(SCORINGS)}, got {self.attention_scoring!r}"
            )
        if self.embed_init not in ("xavier", "normal"):
            raise ValueError(
                "ModelConfig.embed_init must be 'xavier' or 'normal', got"
                f" {self.embed_init!r}"
            )
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                "ModelConfig.architecture must be one of"
                f" {', '.join(ARCHITECTURES)}, got {self.architecture!r}"
            )
        if self.architecture != "encoder_decoder" and (
            not self.share_embeddings or self.tgt_vocab_size is not None
        ):
            raise ValueError(
                f"ModelConfig.architecture={self.architecture!r} reads source"
                " and target as one sequence, so it needs one shared"
                " vocabulary: set share_embeddings=True and"
                " tgt_vocab_size=None (a joint BPE, data.tokenizer='bpe')"
            )
        if self.norm not in ("layer", "rms"):
            raise ValueError(
                f"ModelConfig.norm must be 'layer' or 'rms', got {self.norm!r}"
            )
        if self.activation not in GATED and self.activation not in PLAIN:
            raise ValueError(
                "ModelConfig.activation must be one of"
                f" {sorted({**GATED, **PLAIN})}, got {self.activation!r}"
            )
        if self.layer_norm_eps <= 0:
            raise ValueError(
                "ModelConfig.layer_norm_eps must be positive, got"
                f" {self.layer_norm_eps!r}"
            )
        if (
            not 0 <= self.pad_id < self.vocab_size
            or not 0 <= self.pad_id < self.target_vocab_size
        ):
            raise ValueError(
                f"ModelConfig.pad_id ({self.pad_id}) must be a token id of"
                " both vocabularies"
            )
        if self.share_embeddings and self.target_vocab_size != self.vocab_size:
            raise ValueError(
                "ModelConfig.share_embeddings needs one vocabulary, but"
                f" vocab_size={self.vocab_size} and"
                f" tgt_vocab_size={self.tgt_vocab_size}; set"
                " share_embeddings=False or use a shared vocabulary"
            )

    # -- derived sizes --------------------------------------------------------
    @property
    def target_vocab_size(self) -> int:
        return (
            self.vocab_size
            if self.tgt_vocab_size is None
            else self.tgt_vocab_size
        )

    @property
    def ffn_hidden(self) -> int:
        """The feed-forward hidden width: d_ff, or its 2/3 for a gated
        activation with ``match_ffn_params``."""
        return (
            matched_d_ff(self.d_ff, self.activation)
            if self.match_ffn_params
            else self.d_ff
        )

    @property
    def head_dim_k(self) -> int:
        return head_dim(self.d_model, self.n_heads, self.d_k)

    @property
    def head_dim_v(self) -> int:
        return head_dim(self.d_model, self.n_heads, self.d_v)

    # -- presets --------------------------------------------------------------
    @classmethod
    def base(cls, vocab_size: int, **overrides: Any) -> ModelConfig:
        """Table 3, "base": N=6, d_model=512, d_ff=2048, h=8, P_drop=0.1."""
        return cls(vocab_size=vocab_size, **overrides)

    @classmethod
    def big(cls, vocab_size: int, **overrides: Any) -> ModelConfig:
        """Table 3, "big": N=6, d_model=1024, d_ff=4096, h=16, P_drop=0.3
        (EN-DE)."""
        kwargs: dict[str, Any] = dict(
            d_model=1024, d_ff=4096, n_heads=16, dropout=0.3
        )
        return cls(vocab_size=vocab_size, **{**kwargs, **overrides})

    @classmethod
    def small(cls, vocab_size: int, **overrides: Any) -> ModelConfig:
        """A CPU-sized model for Multi30k-like data: N=3, d_model=256,
        d_ff=1024, h=4."""
        kwargs: dict[str, Any] = dict(
            d_model=256, d_ff=1024, n_heads=4, n_layers=3
        )
        return cls(vocab_size=vocab_size, **{**kwargs, **overrides})

    @classmethod
    def tiny(cls, vocab_size: int, **overrides: Any) -> ModelConfig:
        """A toy model for tests and the CPU chapters: N=2, d_model=64,
        d_ff=128, h=4."""
        kwargs: dict[str, Any] = dict(
            d_model=64, d_ff=128, n_heads=4, n_layers=2, max_len=256
        )
        return cls(vocab_size=vocab_size, **{**kwargs, **overrides})

    # -- serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown ModelConfig field(s) {unknown}; known fields:"
                f" {sorted(known)}"
            )
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))
