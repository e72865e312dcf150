"""`TokenizerConfig`: every option of `tritter tokenizer train`, with descriptions and bounds."""

from __future__ import annotations

from pydantic import Field, field_validator

from tritter.config import Config, runtime_field
from tritter.data.mixture import DEFAULT_MIXTURE, parse_mixture


class TokenizerConfig(Config):
    input: str = runtime_field(
        description="curated folder (output of `tritter curate`): path or s3:// URI"
    )
    output: str = runtime_field(description="tokenizer folder to write: path or s3:// URI")
    vocab_size: int = Field(
        65536,
        ge=512,
        le=1_000_000,
        description="vocabulary size including the 32 special and 256 byte-fallback pieces "
        "(65,536 keeps token ids in uint16)",
    )
    sample_bytes: int = Field(
        100_000_000,
        ge=10_000,
        le=100_000_000_000,
        description="UTF-8 bytes of curated text to train on, drawn across subsets in mixture "
        "proportion (training memory grows with it: ~100 MB fits in a few GiB)",
    )
    heldout_bytes: int = Field(
        1_000_000,
        ge=0,
        le=1_000_000_000,
        description="bytes per subset held out of training to measure compression (capped at "
        "10% of the subset)",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the sample draw")
    mix: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MIXTURE),
        description="sampling weights per curated subset (subset=weight,...; absent subsets "
        "are dropped and the rest renormalized)",
    )
    character_coverage: float = Field(
        0.9995,
        ge=0.9,
        le=1.0,
        description="fraction of characters covered by pieces; rarer ones use byte fallback",
    )
    max_piece_length: int = Field(
        16, ge=2, le=64, description="longest piece in characters (SentencePiece's limit)"
    )
    split_by_whitespace: bool = Field(
        True,
        description="pieces never span a space except leading indentation (off: pieces may "
        "join several words: better compression, much slower training)",
    )
    split_by_unicode_script: bool = Field(
        False,
        description="keep letters, digits and punctuation in separate pieces (off: code "
        "pieces like `self.` or `::new(` are allowed, ~10-40% better compression)",
    )
    split_digits: bool = Field(False, description="split numbers into single digits")
    sentence_bytes: int = Field(
        8192,
        ge=256,
        le=65536,
        description="documents are cut at line ends into training sentences of at most this "
        "many bytes",
    )
    threads: int = Field(
        8,
        ge=1,
        le=1024,
        description="SentencePiece training threads; part of the result (EM sums are split per "
        "thread), so the same seed and threads give the same model on any machine",
    )

    @field_validator("mix", mode="before")
    @classmethod
    def _parse_mix(cls, value: object) -> dict[str, float]:
        return parse_mixture(value)  # type: ignore[arg-type]

    @field_validator("output")
    @classmethod
    def _output_differs_from_input(cls, value: str, info) -> str:  # noqa: ANN001
        source = info.data.get("input")
        if source is not None and source.rstrip("/") == value.rstrip("/"):
            raise ValueError("output must differ from input")
        return value


class TokenizerImportConfig(Config):
    """`tritter tokenizer import`: an existing tokenizer as the run's tokenizer/."""

    source: str = runtime_field(
        description="the tokenizer to import: a Hugging Face folder holding tokenizer.json "
        "(with tokenizer_config.json and special_tokens_map.json when present, e.g. a BitNet "
        "b1.58 2B4T model folder) or a SentencePiece folder / tokenizer.model; path or s3:// URI"
    )
    output: str = runtime_field(description="tokenizer folder to write: path or s3:// URI")
    curated: str | None = runtime_field(
        None,
        description="curated folder to measure the tokenizer's compression on, per language "
        "(bytes per token: what a token budget buys; shown in the report)",
    )
    sample_bytes: int = Field(
        1_000_000,
        ge=1,
        le=1_000_000_000,
        description="UTF-8 bytes of curated text per language for the compression measure",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the documents measured")
    chat_markers: bool = Field(
        True,
        description="give a Hugging Face tokenizer without them the chat and tool markers "
        "post-training needs, on its reserved special tokens (same ids and vocabulary); "
        "--no-chat-markers copies it byte for byte",
    )

    @field_validator("output")
    @classmethod
    def _output_differs_from_source(cls, value: str, info) -> str:  # noqa: ANN001
        source = info.data.get("source")
        if source is not None and source.rstrip("/") == value.rstrip("/"):
            raise ValueError("output must differ from source")
        return value
