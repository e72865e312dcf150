"""`RlConfig`: `tritter rl` — every `tritter pretrain` option plus prompts, reward and sampling.

GRPO-style on-policy RL with verifiable rewards. Each optimizer step takes the next prompts,
samples `--samples-per-prompt` (K) completions of each with the current weights (the KV-cache
decoder; code parts the policy writes run in the sandbox mid-generation, as in `tritter chat`),
scores every completion with the reward function, and normalises the rewards within each
prompt's group of K: advantage = (r − mean of the group) / (std of the group + 1e-6) (without
the division under `--no-scale-advantages`, Dr. GRPO's choice). The loss is PPO's clipped
surrogate on the completion tokens the policy wrote (tool outputs are not learned), averaged
over those tokens (DAPO's token-level mean: a long completion counts per token, not per
sequence), with the ratio clipped to [1 − clip-low, 1 + clip-high].

KL to the initial policy is OFF by default (`--kl-coef 0`), as in DAPO and nanochat's RL: the
reward is verifiable (a unit test, an exact answer), so there is no learned reward model to
over-optimise that a KL anchor would guard against; the anchor slows learning, needs a second
(frozen) model in memory and a second forward per step; and the ratio clipping already bounds
how far one update moves the policy. `--kl-coef β` > 0 adds β × k3(π, π_init) per token (the
GRPO paper's unbiased estimator) with `--init` held frozen as the reference.

With `--ppo-epochs 1` (the default) every rollout batch is used for one update, so the ratio is
exactly 1 and the loss is the plain policy gradient; with E > 1 the same rollouts train E
consecutive optimizer steps against the log-probabilities of the policy that sampled them, and
the clipping bounds the later updates.

The defaults (applied to the options you do not give):

    option                    rl         why
    --optim.lr                2e-5       DPO's rate (see tritter/dpo/config.py): a ternary
                                         weight only moves when its latent value crosses a
                                         rounding threshold, so the dense RL rates (1e-6)
                                         would flip almost none
    --optim.weight-decay      0.0        decay pulls latent weights to 0 (flips to 0)
    --schedule.kind           constant   on-policy data does not run out; no decay needed
    --schedule.warmup-steps   10         (capped at a tenth of the run)
    --epochs                  1          passes over the prompts when neither --max-steps nor
                                         --token-budget is given

Sizes: `--micro-batch-size` counts completions per forward (sequences, as in pretraining), and
each rank's step samples accumulation × micro batch completions: that many / K prompts (so
the product must be a multiple of K). `--seq-len` bounds a whole sequence (prompt, completion,
tool outputs); a prompt that leaves no room is dropped (`too_long`). `--token-budget` counts
`--seq-len` tokens per completion.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from tritter.config import runtime_field
from tritter.evaluate.config import SandboxConfig
from tritter.train.config import TrainConfig, fill_defaults

RL_DEFAULTS: dict[str, Any] = {
    "optim": {"lr": 2e-5, "weight_decay": 0.0, "stage2_weight_decay": 0.0},
    "schedule": {"kind": "constant", "warmup_steps": 10},
}


class RlTrainConfig(TrainConfig):
    """What the trainer runs: `TrainConfig` on the checked prompt rows (`data` = their folder)
    plus sampling, reward and loss (all in the training fingerprint, config.yaml and the
    manifest)."""

    phase: Literal["rl"] = Field(
        "rl", description="always rl (labels the metrics and names the manifest's stage)"
    )
    reward: str = Field(
        description="the reward: a built-in name (unit_tests, numeric, format_number, "
        "format_code) or module:function importable from PYTHONPATH, called as "
        "function(prompt, completion, row) -> float"
    )
    samples_per_prompt: int = Field(
        8, ge=2, le=1024, description="completions sampled per prompt (the group size K)"
    )
    max_new_tokens: int = Field(
        256,
        ge=1,
        le=1_048_576,
        description="tokens per completion, tool outputs included (and at most --seq-len with "
        "the prompt)",
    )
    temperature: float = Field(1.0, gt=0, le=5, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    clip_low: float = Field(
        0.2, ge=0, lt=1, description="the ratio is clipped below at 1 − clip-low"
    )
    clip_high: float = Field(
        0.28,
        ge=0,
        le=10,
        description="the ratio is clipped above at 1 + clip-high (DAPO's clip-higher)",
    )
    kl_coef: float = Field(
        0.0,
        ge=0,
        le=100,
        description="weight of the per-token KL to the --init policy (0: off, see --help)",
    )
    ppo_epochs: int = Field(
        1, ge=1, le=64, description="optimizer steps trained on each batch of rollouts"
    )
    scale_advantages: bool = Field(
        True,
        description="divide each group's centred rewards by their std (GRPO); off: Dr. GRPO",
    )
    pass_threshold: float = Field(
        1.0, description="a completion passes (pass_rate) when its reward is at least this"
    )
    max_tool_calls: int = Field(
        4, ge=0, le=64, description="code parts run in the sandbox per completion (0: none)"
    )
    tool_output_chars: int = Field(
        2000, ge=1, le=100_000, description="characters of a program's output fed back"
    )
    reward_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="wall-clock seconds one reward call may take; a slower one is killed and "
        "scores 0 (counted as reward_errors)",
    )
    reward_workers: int = runtime_field(
        2, ge=1, le=256, description="worker processes calling the reward function"
    )
    sandbox: SandboxConfig = Field(
        default_factory=SandboxConfig,
        description="limits for the code parts run during generation and for unit_tests",
    )

    @model_validator(mode="before")
    @classmethod
    def _rl_defaults(cls, data: Any) -> Any:
        """Fill what the user left out with the RL defaults (given values always win)."""
        return fill_defaults(data, RL_DEFAULTS)

    @model_validator(mode="after")
    def _fits_the_sampler(self) -> RlTrainConfig:
        if self.sharding == "fsdp":
            raise ValueError(
                "tritter rl samples with whole replicas of the policy: use --sharding ddp"
            )
        if self.global_batch_tokens is None and self.micro_batch_size % self.samples_per_prompt:
            raise ValueError(
                f"--micro-batch-size {self.micro_batch_size} (completions per step and rank) "
                f"must be a multiple of --samples-per-prompt {self.samples_per_prompt}"
            )
        return self


class RlConfig(RlTrainConfig):
    init: str = runtime_field(
        description="the weights the policy starts from (normally the SFT or DPO model): a "
        "checkpoints folder (its newest committed step), one step folder or a Hugging Face "
        "BitNet directory, local or s3://"
    )
    prompts: str = runtime_field(
        description="the prompt rows ({prompt: text | [messages], ...fields for the reward}): a "
        "JSONL/Parquet file or folder, an s3:// prefix, hf://DATASET[:CONFIG][:SPLIT] or "
        "builtin:arithmetic (the shipped spelled-out arithmetic set, rows with `answer`)"
    )
    data: str = runtime_field(
        "", description="set by the stage: the folder of the checked prompt rows (<output>/data)"
    )
    epochs: float = Field(
        1.0,
        gt=0,
        le=1000,
        description="passes over the prompts when neither --max-steps nor --token-budget is given",
    )

    @model_validator(mode="after")
    def _needs_length(self) -> RlConfig:
        """Overrides the pretraining check: without --max-steps or --token-budget the run
        trains `epochs` passes, known once the prompts are read."""
        return self
