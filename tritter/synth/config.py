"""`IdentityConfig`: the options of `tritter synth identity`."""

from __future__ import annotations

from pydantic import Field

from tritter.config import Config, runtime_field

# Generated rows are derived from the project's own templates and the persona file; the project
# is Apache-2.0, so by default the data is too (curation's allowlist keeps it).
DEFAULT_LICENSE = "apache-2.0"


class IdentityConfig(Config):
    persona: str | None = runtime_field(
        None,
        description="persona YAML file: path or s3:// URI (default: the packaged Tritter "
        "persona); its content, not its location, is part of the result",
    )
    output: str = runtime_field(description="folder to write: path or s3:// URI")
    count: int = Field(1000, ge=1, le=1_000_000, description="conversations to generate")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed: the same seed, the same data")
    system_fraction: float = Field(
        0.5, ge=0.0, le=1.0, description="share of conversations that open with a system turn"
    )
    multi_turn_fraction: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="share of conversations asking two or three questions instead of one",
    )
    license: str = Field(
        DEFAULT_LICENSE,
        pattern=r"^[a-z0-9][a-z0-9.+-]*$",
        description="SPDX id (lower case) written into every row's `license` field",
    )


class DocstringsConfig(Config):
    output: str = runtime_field(description="folder to write: path or s3:// URI")
    count: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="conversations to generate (at most one per documented callable)",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed: the same seed, the same data")
