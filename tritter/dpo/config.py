"""`DpoConfig`: `tritter dpo` — every `tritter pretrain` option plus the preference data and loss.

DPO trains the policy (initialised from `--init`, an SFT model) to prefer each pair's chosen
reply over its rejected one, relative to a frozen reference (the same `--init` weights, whose
log-probabilities are computed once, before training, and stored with the rendered data).

The defaults (applied to the options you do not give):

    option                    dpo        why
    --beta                    0.1        TRL's and the DPO paper's default: the implicit KL
                                         strength; lower lets the policy drift further
    --loss-type               sigmoid    the DPO paper's loss; ipo is the squared variant
    --label-smoothing         0.0        cDPO off: the pairs are taken as correctly labelled
    --optim.lr                2e-5       a fifth of SFT's 1e-4. Dense DPO recipes run 10-40x
                                         below their SFT rate (Zephyr: 2e-5 → 5e-7); a ternary
                                         weight only moves when its latent value crosses a
                                         rounding threshold, so the dense 5e-7 would flip
                                         almost none. At 2e-5 AdamW moves a latent weight at
                                         most ~2e-5 a step: a few hundred steps flip a small
                                         share of the weights, DPO's small move away from
                                         the reference
    --optim.weight-decay      0.0        decay pulls latent weights to 0 (flips to 0)
    --schedule.kind           cosine     warm-up, then one decay to min-lr-ratio
    --schedule.warmup-steps   10         (capped at a tenth of the run)
    --epochs                  1          passes over the training pairs when neither
                                         --max-steps nor --token-budget is given

`--micro-batch-size` counts pairs (each is two sequences: chosen and rejected) and
`--seq-len` bounds each sequence (prompt + reply); a longer pair is skipped (`too_long`).
`--token-budget` counts `--seq-len` tokens per pair (the trainer's global batch is ranks ×
micro batch × seq len), so `--epochs` or `--max-steps` say it more directly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tritter.config import runtime_field
from tritter.train.config import TrainConfig, fill_defaults

DPO_DEFAULTS: dict[str, Any] = {
    "optim": {"lr": 2e-5, "weight_decay": 0.0, "stage2_weight_decay": 0.0},
    "schedule": {"kind": "cosine", "warmup_steps": 10},
}


class DpoTrainConfig(TrainConfig):
    """What the trainer runs: `TrainConfig` on the rendered data plus the preference loss (its
    fields are in the training fingerprint, config.yaml and the manifest)."""

    phase: Literal["dpo"] = Field(
        "dpo", description="always dpo (labels the metrics and names the manifest's stage)"
    )
    beta: float = Field(
        0.1, gt=0, le=100, description="DPO beta: reward = beta × (log p_policy − log p_ref)"
    )
    loss_type: Literal["sigmoid", "ipo"] = Field(
        "sigmoid", description="sigmoid (DPO; with --label-smoothing: cDPO) or ipo"
    )
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="cDPO: the assumed share of pairs whose labels are flipped (sigmoid only)",
    )

    @model_validator(mode="before")
    @classmethod
    def _dpo_defaults(cls, data: Any) -> Any:
        """Fill what the user left out with the DPO defaults (given values always win)."""
        return fill_defaults(data, DPO_DEFAULTS)

    @model_validator(mode="after")
    def _smoothing_is_sigmoid(self) -> DpoTrainConfig:
        if self.loss_type == "ipo" and self.label_smoothing:
            raise ValueError("--label-smoothing applies to --loss-type sigmoid only")
        return self


class DpoConfig(DpoTrainConfig):
    init: str = runtime_field(
        description="the SFT weights the policy starts from and the frozen reference is: a "
        "checkpoints folder (its newest committed step), one step folder or a Hugging Face "
        "BitNet directory, local or s3://"
    )
    data: list[str] = runtime_field(
        description="preference pair sources ({prompt, chosen, rejected} rows; JSONL/Parquet "
        "files or folders, s3:// prefixes, hf://DATASET[:CONFIG][:SPLIT]), each NAME=URI or URI"
    )
    val_fraction: float = Field(
        0.05, ge=0.0, le=0.5, description="share of each source's pairs held out"
    )
    epochs: float = Field(
        1.0,
        gt=0,
        le=1000,
        description="passes over the training pairs when neither --max-steps nor "
        "--token-budget is given",
    )

    @field_validator("data")
    @classmethod
    def _some_data(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one preference source")
        return value

    @model_validator(mode="after")
    def _needs_length(self) -> DpoConfig:
        """Overrides the pretraining check: without --max-steps or --token-budget the run
        trains `epochs` passes, known once the pairs are rendered."""
        return self

    def sources(self) -> dict[str, str]:
        """Source name → URI, in the order given; a name used twice is an error."""
        from tritter.data.named_sources import named_sources

        return named_sources(self.data, "pairs")
