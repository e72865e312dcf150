"""`SftConfig`: `tritter sft` — every `tritter pretrain` option plus the conversation data.

Two phases run the same trainer on conversations (`tritter.chat`), starting from `--init`:

* `mid` (midtraining) teaches the format: the chat markers, tool calls, the persona, task
  conversations — and, by mixing in plain text, keeps what pretraining learned. It runs at a
  learning rate near the end of pretraining's schedule.
* `sft` polishes on the best conversations: a lower learning rate and one pass over the data.

The defaults of each phase (applied to the options you do not give):

    option                    mid        sft        why
    --optim.lr                5e-4       1e-4       a ternary weight only changes when its latent
                                                    value crosses a rounding threshold: the 1e-5
                                                    of dense fine-tuning barely moves one
    --optim.weight-decay      0.0        0.0        decay pulls latent weights to 0 (flips to 0)
    --schedule.kind           cosine     cosine     warm-up, then one decay to min-lr-ratio
    --schedule.warmup-steps   20         10
    --document-masking        on         on         conversations packed together never attend
                                                    to each other
    --epochs                  1          1          passes over the training conversations when
                                                    neither --max-steps nor --token-budget

Conversations are packed back to back into `--seq-len` windows (each followed by EOS), and
document masking keeps each one to itself: no padding is spent, and a long conversation simply
continues in the next window. The loss counts only what the assistant writes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tritter.config import runtime_field
from tritter.data.mixture import parse_mixture
from tritter.train.config import TrainConfig, fill_defaults

PHASE_DEFAULTS: dict[str, dict[str, Any]] = {
    "mid": {
        "optim": {"lr": 5e-4, "weight_decay": 0.0, "stage2_weight_decay": 0.0},
        "schedule": {"kind": "cosine", "warmup_steps": 20},
        "document_masking": True,
    },
    "sft": {
        "optim": {"lr": 1e-4, "weight_decay": 0.0, "stage2_weight_decay": 0.0},
        "schedule": {"kind": "cosine", "warmup_steps": 10},
        "document_masking": True,
    },
}


class SftConfig(TrainConfig):
    phase: Literal["mid", "sft"] = Field(
        "sft", description="mid (format, identity, tasks, replay) or sft (polish); see the defaults"
    )
    init: str = runtime_field(
        description="the weights to start from: a pretrain checkpoints folder (its newest "
        "committed step), one step folder or a Hugging Face BitNet directory, local or s3://"
    )
    data: list[str] = runtime_field(
        description="conversation sources (JSONL/Parquet files or folders, s3:// prefixes, "
        "hf://DATASET[:CONFIG][:SPLIT]), each NAME=URI or URI (named by its file stem); only "
        "these are used: no built-in data is mixed in"
    )
    mix: dict[str, float] = Field(
        default_factory=dict,
        description="token share per source name (default: each source as it is)",
    )
    val_fraction: float = Field(
        0.05, ge=0.0, le=0.5, description="share of each source's conversations held out"
    )
    max_repetition: float = Field(
        4.0, ge=1.0, le=100.0, description="most copies of a conversation the mixture may use"
    )
    epochs: float = Field(
        1.0,
        gt=0,
        le=1000,
        description="passes over the training conversations when neither --max-steps nor "
        "--token-budget is given",
    )

    @model_validator(mode="before")
    @classmethod
    def _phase_defaults(cls, data: Any) -> Any:
        """Fill what the user left out with the phase's defaults (given values always win)."""
        if not isinstance(data, dict):
            return data
        return fill_defaults(data, PHASE_DEFAULTS.get(str(data.get("phase", "sft")), {}))

    @field_validator("mix", mode="before")
    @classmethod
    def _parse_mix(cls, value: object) -> dict[str, float]:
        return parse_mixture(value) if value else {}  # type: ignore[arg-type]

    @field_validator("data")
    @classmethod
    def _some_data(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one conversation source")
        return value

    @model_validator(mode="after")
    def _needs_length(self) -> SftConfig:
        """Overrides the pretraining check: without --max-steps or --token-budget the run
        trains `epochs` passes, known once the data is rendered."""
        return self

    def sources(self) -> dict[str, str]:
        """Source name → URI, in the order given; a name used twice is an error."""
        from tritter.data.named_sources import named_sources
        from tritter.errors import TritterError

        named = named_sources(self.data, "conversations")
        unknown = sorted(set(self.mix) - set(named))
        if unknown:
            raise TritterError(
                f"invalid config field 'mix' (--mix): no source named '{unknown[0]}' "
                f"(sources: {', '.join(named)})"
            )
        return named
