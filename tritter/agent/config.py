"""`ChatConfig`: the options of `tritter chat` (talking to a checkpoint)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tritter.config import Config, runtime_field
from tritter.evaluate.config import SandboxConfig


class ChatConfig(Config):
    checkpoint: str = runtime_field(
        description="a checkpoints folder (its newest committed step), one step folder or a "
        "Hugging Face BitNet directory, local or s3://"
    )
    tokenizer: str = runtime_field(description="tokenizer folder or tokenizer.model URI")
    prompt: str | None = runtime_field(
        None, description="one question: print only the assistant's reply and exit"
    )
    system: str | None = Field(None, description="a system turn opening the conversation")
    temperature: float = Field(0.0, ge=0, le=5, description="0 = greedy (deterministic)")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass (when sampling)")
    max_new_tokens: int = Field(256, ge=1, le=32768, description="tokens per model turn")
    max_tool_calls: int = Field(
        4, ge=0, le=64, description="code runs per reply before the model must answer"
    )
    output_chars: int = Field(
        2000, ge=1, le=100_000, description="characters of a program's output fed back"
    )
    seed: int = Field(0, ge=0, description="sampling seed")
    device: str = runtime_field("auto", description="torch device ('auto': cuda when available)")
    dtype: Literal["auto", "float32", "bfloat16"] = runtime_field(
        "auto", description="compute dtype ('auto': bfloat16 on GPU, float32 on CPU)"
    )
    json_output: bool = runtime_field(
        False,
        description="with --prompt: print the reply as its JSON message (text/code/output "
        "parts) instead of text",
    )
    sandbox: SandboxConfig = Field(default_factory=lambda: SandboxConfig(workers=1))
