"""`TrainConfig`: every option of `tritter pretrain`, from flags, a YAML file or pipeline values.

The global batch is given in tokens; the gradient-accumulation count is derived from it once the
world size is known (global tokens = accumulation × world size × micro batch × sequence length),
so the same config keeps the same optimisation when a run resumes on a different number of ranks.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tritter.config import Config, add_arguments, runtime_field
from tritter.errors import TritterError


class OptimConfig(Config):
    """AdamW with the BitNet b1.58 defaults."""

    lr: float = Field(1.5e-3, gt=0, le=1.0, description="peak learning rate of stage 1")
    beta1: float = Field(0.9, ge=0, lt=1, description="AdamW beta1")
    beta2: float = Field(0.95, ge=0, lt=1, description="AdamW beta2")
    eps: float = Field(1e-8, gt=0, le=1e-2, description="AdamW epsilon")
    weight_decay: float = Field(
        0.1, ge=0, le=1, description="weight decay in stage 1 (never on norms, embeddings, biases)"
    )
    stage2_weight_decay: float = Field(
        0.0, ge=0, le=1, description="weight decay in stage 2 of the two-stage schedule"
    )
    clip_grad_norm: float = Field(
        1.0, ge=0, le=1e6, description="clip the global gradient norm to this (0: no clipping)"
    )


class ScheduleConfig(Config):
    """Learning-rate schedule. `bitnet`: linear warm-up, cosine decay to the halfway point, then a
    drop to a lower peak and a second cosine decay (with weight decay switched off)."""

    kind: Literal["bitnet", "cosine", "constant"] = Field(
        "bitnet", description="bitnet (two-stage), cosine (one stage) or constant after warm-up"
    )
    warmup_steps: int = Field(
        375, ge=0, le=10**9, description="linear warm-up steps (capped at a tenth of the run)"
    )
    stage2_start: float = Field(
        0.5, gt=0, lt=1, description="fraction of the run where stage 2 starts (bitnet)"
    )
    stage1_end_ratio: float = Field(
        0.6, ge=0, le=1, description="stage 1 decays to this fraction of the peak (bitnet)"
    )
    stage2_peak_ratio: float = Field(
        0.4, ge=0, le=1, description="stage 2 restarts from this fraction of the peak (bitnet)"
    )
    min_lr_ratio: float = Field(
        0.1, ge=0, le=1, description="final learning rate as a fraction of the peak"
    )


class CheckpointConfig(Config):
    every: int = runtime_field(
        500, ge=1, le=10**9, description="save a checkpoint every this many optimizer steps"
    )
    keep_last: int = runtime_field(
        3, ge=1, le=10**6, description="committed checkpoints kept (older ones are deleted)"
    )


class TrainConfig(Config):
    data: str = runtime_field(
        description="tokens folder (output of `tritter pack`): path or s3:// URI"
    )
    tokenizer: str = runtime_field(
        description="tokenizer folder or tokenizer.model: path or s3:// URI"
    )
    output: str = runtime_field(
        description="the run's checkpoints folder (run_root/checkpoints): path or s3:// URI"
    )
    phase: Literal["pretrain", "mid", "sft", "dpo", "rl"] = Field(
        "pretrain",
        description="what this training is: pretrain, midtraining/SFT on conversations "
        "(`tritter sft` sets it), preference optimisation (`tritter dpo`) or reinforcement "
        "learning (`tritter rl`); labels the metrics and names the manifest's stage",
    )
    model: str | None = Field(
        None,
        description="model preset (tiny, 125m, 700m, 1.3b, 3b, 7b, ...; default: tiny, or the "
        "shape of --init)",
    )
    init: str | None = runtime_field(
        None,
        description="start from these weights when --output holds no checkpoint yet: a Hugging "
        "Face BitNet directory (bf16 master weights or packed 2-bit), a checkpoints folder (its "
        "newest committed step) or one step folder, local or s3://; the model's shape comes "
        "from them and the optimizer starts fresh (a relaunch resumes from --output's own "
        "checkpoints)",
    )
    quantization: Literal["ternary", "dense"] | None = Field(
        None,
        description="ternary BitLinear layers, or the same model dense for baselines (default: "
        "ternary, or --init's)",
    )
    vocab_size: int | None = Field(
        None,
        ge=1,
        le=10**7,
        description="model vocabulary (default: the tokenizer's for tiny, the preset's "
        "otherwise, --init's with --init; must be >= the tokenizer's)",
    )
    seq_len: int = Field(2048, ge=8, le=1_048_576, description="training sequence length")
    micro_batch_size: int = Field(
        8, ge=1, le=65536, description="sequences per rank per forward/backward"
    )
    global_batch_tokens: int | None = Field(
        None,
        ge=8,
        le=10**12,
        description="tokens per optimizer step over all ranks (default: one micro batch per "
        "rank, no accumulation); must be a multiple of ranks × micro batch × seq len",
    )
    max_steps: int | None = Field(
        None, ge=1, le=10**10, description="optimizer steps (default: from --token-budget)"
    )
    token_budget: int | None = Field(
        None, ge=1, le=10**16, description="training tokens (used when --max-steps is not given)"
    )
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on GPU, fp32 on CPU (weights stay fp32)"
    )
    sharding: Literal["ddp", "fsdp"] = runtime_field(
        "ddp", description="ddp (replicated) or fsdp (FSDP2 fully_shard per decoder block)"
    )
    activation_checkpointing: bool = runtime_field(
        False, description="recompute decoder-block activations in the backward pass"
    )
    compile: bool = runtime_field(False, description="torch.compile the decoder blocks")
    document_masking: bool = Field(
        False, description="attend only within a document (packed samples span documents)"
    )
    device: Literal["auto", "cpu", "cuda"] = runtime_field(
        "auto", description="auto: one GPU per rank when CUDA is present, else CPU"
    )
    val_every: int = Field(
        500,
        ge=0,
        le=10**9,
        description="validation loss/bpb every this many steps (0: only at end)",
    )
    val_batches: int = Field(
        8, ge=1, le=10**6, description="validation micro batches per rank and subset"
    )
    nan_policy: Literal["skip", "stop"] = Field(
        "skip",
        description="on a non-finite or spiking loss/gradient: skip the update, or stop the run",
    )
    spike_factor: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="a loss above this × its running mean counts as a spike (0: only NaN/inf)",
    )
    max_skipped_steps: int = Field(
        10, ge=0, le=10**6, description="stop after this many consecutive skipped updates"
    )
    metrics_port: int = runtime_field(
        9400, ge=0, le=65535, description="Prometheus port served by local rank 0 (0: off)"
    )
    hold_metrics_seconds: float = runtime_field(
        0.0, ge=0, le=86400, description="keep serving metrics this long after training ends"
    )
    run_name: str | None = runtime_field(
        None, description="run label in metrics (default: name of the folder above --output)"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of initialisation and data order")
    nproc: int | None = runtime_field(
        None,
        ge=1,
        le=1024,
        description="processes per node (default: PET_NPROC_PER_NODE, GPU count, or 1)",
    )
    memory_gb: float | None = runtime_field(
        None,
        gt=0,
        le=1e6,
        description="memory declared per rank (GiB): refuse a model that cannot fit",
    )
    peak_flops: float | None = runtime_field(
        None, gt=0, description="peak FLOP/s per rank for MFU (default: known GPUs; CPU estimate)"
    )
    verify_shards: bool = runtime_field(
        True,
        description="hash every token shard the run reads against the pack manifest's sha256 "
        "(one streaming pass per launch, split across ranks, in the background; a mismatch "
        "stops the run before its first checkpoint with one line naming the shard); false: "
        "sizes, headers and token ids only",
    )
    num_workers: int = runtime_field(
        0, ge=0, le=64, description="data-loader worker processes per rank (0: in-process)"
    )
    log_every: int = runtime_field(
        1, ge=1, le=10**6, description="progress line every this many steps (metrics.jsonl: all)"
    )

    @field_validator("output")
    @classmethod
    def _output_differs(cls, value: str, info) -> str:  # noqa: ANN001
        for other in ("data", "tokenizer"):
            source = info.data.get(other)
            if isinstance(source, str) and source.rstrip("/") == value.rstrip("/"):
                raise ValueError(f"output must differ from {other}")
        return value

    @model_validator(mode="after")
    def _needs_length(self) -> TrainConfig:
        if self.max_steps is None and self.token_budget is None:
            raise ValueError("give --max-steps or --token-budget")
        return self


def accumulation_steps(config: TrainConfig, world_size: int) -> int:
    """Micro batches per rank per optimizer step for this world size."""
    per_micro = world_size * config.micro_batch_size * config.seq_len
    if config.global_batch_tokens is None:
        return 1
    if config.global_batch_tokens % per_micro:
        raise TritterError(
            f"invalid config field 'global_batch_tokens' (--global-batch-tokens): "
            f"{config.global_batch_tokens} is not a multiple of {world_size} ranks × "
            f"{config.micro_batch_size} micro batch × {config.seq_len} tokens = {per_micro}"
        )
    return config.global_batch_tokens // per_micro


def global_batch_tokens(config: TrainConfig, world_size: int) -> int:
    return (
        accumulation_steps(config, world_size)
        * world_size
        * config.micro_batch_size
        * config.seq_len
    )


def total_steps(config: TrainConfig, world_size: int) -> int:
    if config.max_steps is not None:
        return config.max_steps
    assert config.token_budget is not None
    return max(1, math.ceil(config.token_budget / global_batch_tokens(config, world_size)))


def add_training_arguments(
    parser: argparse.ArgumentParser, kind: type[TrainConfig], exclude: Sequence[str] = ()
) -> None:
    """The flags every trainer command takes (`tritter pretrain`, `dpo`, `rl`): `--config FILE`,
    one flag per field of `kind` (but `exclude`) and `--checkpoint-every`."""
    parser.add_argument("--config", metavar="FILE", help="YAML file with the options below")
    add_arguments(parser, kind, exclude=tuple(exclude))
    parser.add_argument(
        "--checkpoint-every",
        dest="checkpoint.every",
        type=int,
        default=argparse.SUPPRESS,
        help="same as --checkpoint.every",
    )


def fill_defaults(data: Any, defaults: dict[str, Any]) -> Any:
    """A post-training stage's config input with its defaults filled in where the user gave
    nothing (a `mode="before"` validator's body): nested sections merge key by key, given values
    always win."""
    if not isinstance(data, dict):
        return data
    merged = dict(data)
    for key, value in defaults.items():
        if isinstance(value, dict):
            given = merged.get(key) if isinstance(merged.get(key), dict) else {}
            merged[key] = {**value, **given}
        else:
            merged.setdefault(key, value)
    return merged
