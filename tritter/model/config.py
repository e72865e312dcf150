"""Model shape and the named presets.

Field names follow Hugging Face's `BitNetConfig` so a `config.json` maps onto `ModelConfig` one to
one (see tritter/model/hf.py). Cross-field rules (heads divide the hidden size, KV heads divide the
heads, an even head dimension for RoPE) are checked on the field that breaks them, so the one-line
error names that field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from tritter.config import Config, validate
from tritter.errors import TritterError

# A value for one ModelConfig field, as overrides pass it (validated, and coerced where pydantic
# coerces, e.g. "64" for an int field, before it is used).
FieldValue = int | float | bool | str


class ModelConfig(Config):
    """Shape of a BitNet b1.58 decoder (Llama-style, pre-norm, SubLN, gated squared ReLU)."""

    vocab_size: int = Field(gt=0, description="token vocabulary size (embedding rows)")
    hidden_size: int = Field(gt=0, description="model width")
    intermediate_size: int = Field(gt=0, description="feed-forward width (gate/up output)")
    num_hidden_layers: int = Field(gt=0, description="decoder blocks")
    num_attention_heads: int = Field(gt=0, description="query heads")
    num_key_value_heads: int = Field(gt=0, description="key/value heads (GQA groups)")
    max_position_embeddings: int = Field(default=4096, gt=0, description="context length")
    rope_theta: float = Field(default=500000.0, gt=0, description="RoPE base")
    rms_norm_eps: float = Field(default=1e-5, gt=0, description="RMSNorm epsilon")
    tie_word_embeddings: bool = Field(default=False, description="output head = embedding")
    initializer_range: float = Field(default=0.02, gt=0, description="init std of weights")
    quantization: Literal["ternary", "dense"] = Field(
        default="ternary",
        description="ternary: BitLinear (W1.58 A8, STE); dense: no quantization",
    )

    @field_validator("num_attention_heads")
    @classmethod
    def _heads_divide_hidden(cls, value: int, info: ValidationInfo) -> int:
        hidden = info.data.get("hidden_size")
        if hidden is not None and hidden % value:
            raise ValueError(f"must divide hidden_size {hidden}")
        if hidden is not None and (hidden // value) % 2:
            raise ValueError(f"head dim hidden_size/heads = {hidden // value} must be even (RoPE)")
        return value

    @field_validator("num_key_value_heads")
    @classmethod
    def _kv_heads_divide_heads(cls, value: int, info: ValidationInfo) -> int:
        heads = info.data.get("num_attention_heads")
        if heads is not None and heads % value:
            raise ValueError(f"must divide num_attention_heads {heads}")
        return value

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def replace(self, **overrides: FieldValue) -> ModelConfig:
        """A validated copy with some fields changed (unknown fields are errors)."""
        return validate(ModelConfig, {**self.model_dump(), **overrides})


def _paper(hidden: int, ffn: int, heads: int, layers: int) -> ModelConfig:
    """The BitNet b1.58 paper shapes: MHA, LLaMA's 32k vocabulary, 2k context, untied head."""
    return ModelConfig(
        vocab_size=32000,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=2048,
    )


PRESETS: dict[str, ModelConfig] = {
    # Tests and smoke runs: the vocabulary normally comes from the tokenizer via an override.
    "tiny": ModelConfig(
        vocab_size=8192,
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    ),
    # GPT-3 "small" width/depth with a gated FFN of 8/3 × hidden.
    "125m": _paper(768, 2048, 12, 12),
    "700m": _paper(1536, 4096, 24, 24),
    "1.3b": _paper(2048, 5460, 32, 24),
    "3b": _paper(3200, 8640, 32, 26),
    "7b": _paper(4096, 11008, 32, 32),
    # microsoft/bitnet-b1.58-2B-4T exactly: 2,412,820,480 parameters.
    "2b4t": ModelConfig(
        vocab_size=128256,
        hidden_size=2560,
        intermediate_size=6912,
        num_hidden_layers=30,
        num_attention_heads=20,
        num_key_value_heads=5,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    ),
    # The project's original blueprint shape (24 × 3072, 16 heads, 8k context, 65k vocab, tied
    # embeddings). It was described as "~700M" but holds 2,919,656,448 parameters, so it is
    # offered under its own name: nobody trains it believing it is the 700m preset.
    "blueprint": ModelConfig(
        vocab_size=65536,
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_key_value_heads=16,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
    ),
}


def resolve_config(config: ModelConfig | str, **overrides: FieldValue) -> ModelConfig:
    """A preset name or a config, with field overrides applied and validated."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise TritterError(f"unknown model preset '{config}' (known: {', '.join(PRESETS)})")
        config = PRESETS[config]
    if not isinstance(config, ModelConfig):
        raise TritterError(f"model config must be a ModelConfig or preset name, got {config!r}")
    return config.replace(**overrides) if overrides else config
