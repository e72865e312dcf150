"""`PackConfig`: every option of `tritter pack`, with descriptions and bounds."""

from __future__ import annotations

from pydantic import Field, field_validator

from tritter.config import Config, runtime_field
from tritter.data.mixture import DEFAULT_MIXTURE, parse_mixture
from tritter.data.render import NegativeMode


class PackConfig(Config):
    input: str = runtime_field(
        description="curated folder (output of `tritter curate`): path or s3:// URI"
    )
    tokenizer: str = runtime_field(
        description="tokenizer folder or tokenizer.model: path or s3:// URI"
    )
    output: str = runtime_field(description="tokens folder to write: path or s3:// URI")
    seq_len: int = Field(
        ge=8,
        le=1_048_576,
        description="training sequence length; every split/subset stream is checked to hold at "
        "least one sample of seq_len + 1 tokens",
    )
    mix: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MIXTURE),
        description="token share per curated subset (subset=weight,...; weights of absent "
        "subsets are dropped and the rest renormalized; unlisted subsets are left out)",
    )
    token_budget: int | None = Field(
        None,
        ge=1,
        le=10**15,
        description="training tokens to produce (default: as many as the weighted subsets hold)",
    )
    max_repetition: float = Field(
        4.0,
        ge=1.0,
        le=100.0,
        description="most times a subset's documents may be repeated to meet its share",
    )
    val_fraction: float = Field(
        0.01,
        ge=0.0,
        le=0.5,
        description="share of each subset's tokens held out for validation (at least one "
        "sequence when the subset is large enough; 0 disables)",
    )
    val_max_tokens: int = Field(
        5_000_000, ge=1, le=10**12, description="cap on validation tokens per subset"
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the split and repetition draws")
    shard_tokens: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        le=4 * 1024**3,
        description="target tokens per output shard (one work unit each)",
    )
    negatives: NegativeMode = Field(
        "explain",
        description="negative examples: explain (append their explanation as a comment), drop, "
        "or keep verbatim",
    )
    estimate_bytes: int = Field(
        2_000_000,
        ge=1_000,
        le=10**10,
        description="bytes per subset tokenized during planning to estimate tokens per byte",
    )
    workers: int | None = runtime_field(
        None, ge=1, le=1024, description="local worker processes (default: CPU count)"
    )
    threads: int = runtime_field(
        1, ge=1, le=256, description="SentencePiece encoding threads per worker"
    )

    @field_validator("mix", mode="before")
    @classmethod
    def _parse_mix(cls, value: object) -> dict[str, float]:
        return parse_mixture(value)  # type: ignore[arg-type]

    @field_validator("output")
    @classmethod
    def _output_differs(cls, value: str, info) -> str:  # noqa: ANN001
        for other in ("input", "tokenizer"):
            source = info.data.get(other)
            if source is not None and source.rstrip("/") == value.rstrip("/"):
                raise ValueError(f"output must differ from {other}")
        return value
