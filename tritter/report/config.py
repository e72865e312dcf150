"""Configuration of `tritter report`."""

from __future__ import annotations

from pydantic import Field

from tritter.config import Config


class ReportConfig(Config):
    run: str = Field(description="run root URI (holds curated/ tokenizer/ tokens/ checkpoints/ …)")
    output: str | None = Field(None, description="output folder (default: <run>/report)")
    title: str = Field("Tritter run report", min_length=1, description="page title")
