"""Configuration of `tritter report`."""

from __future__ import annotations

from pydantic import Field

from tritter.config import Config, runtime_field


class ReportConfig(Config):
    run: str = runtime_field(
        description="run root URI (holds curated/ tokenizer/ tokens/ checkpoints/ …)"
    )
    output: str | None = runtime_field(None, description="output folder (default: <run>/report)")
    title: str = Field("Tritter run report", min_length=1, description="page title")
