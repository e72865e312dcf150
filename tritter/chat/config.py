"""`RenderConfig`: the options of `tritter chat render`."""

from __future__ import annotations

from pydantic import Field

from tritter.config import Config, runtime_field


class RenderConfig(Config):
    input: str = runtime_field(
        description="conversations: a .jsonl/.jsonl.gz/.parquet file, a folder or s3:// prefix "
        "of them, or hf://DATASET[:CONFIG][:SPLIT]"
    )
    tokenizer: str = runtime_field(
        description="tokenizer folder (output of `tritter tokenizer train`) or tokenizer.model"
    )
    limit: int | None = Field(
        None, ge=1, description="show the first N valid conversations (default: all)"
    )
    color: bool | None = runtime_field(
        None,
        description="colour the learned tokens with ANSI codes; without colour they are wrapped "
        "in {+ +} (default: colour when stdout is a terminal)",
    )
