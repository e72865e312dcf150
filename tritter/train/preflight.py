"""Everything that can be wrong with a training launch, checked before any step runs.

The launcher calls `check` once before starting ranks (so a bad input is one
`tritter: error: …` line, not a failure in every rank), and every rank calls it again when it
starts (cheap; it also gives each rank the resolved model config).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tritter import storage
from tritter.errors import TritterError
from tritter.run_folder import TrainInputs
from tritter.train.config import TrainConfig, accumulation_steps, total_steps
from tritter.train.store import (
    Checkpoint,
    CheckpointStore,
    CorruptCheckpoint,
    fall_back,
    identity,
    none_intact,
)

if TYPE_CHECKING:
    from tritter.model import ModelConfig
    from tritter.tokenizer import Tokenizer
    from tritter.train.objective import Objective

GIB = 1024**3
# fp32 weights + fp32 gradients + AdamW's two fp32 moments.
STATE_BYTES_PER_PARAMETER = 16


@dataclass
class Preflight:
    model_config: ModelConfig
    tokenizer: Tokenizer
    inputs: TrainInputs  # what the run trains on, by content (the stage fingerprint's part)
    latest: Checkpoint | None
    resume_state: dict[str, Any] | None
    accumulation: int
    total_steps: int
    memory_gib: float


def model_config_for(config: TrainConfig, tokenizer: Tokenizer) -> ModelConfig:
    """The shape to train: the preset (tiny by default) with this run's overrides, or, with
    `--init`, the shape of the weights it starts from."""
    from tritter.model import PRESETS, resolve_config

    if config.init:
        return _init_model_config(config, config.init, tokenizer)
    name = config.model or "tiny"
    if name not in PRESETS:
        raise TritterError(
            f"invalid config field 'model' (--model): unknown preset '{name}' "
            f"(known: {', '.join(PRESETS)})"
        )
    preset = PRESETS[name]
    vocab = config.vocab_size
    if vocab is None:
        vocab = tokenizer.vocab_size if name == "tiny" else preset.vocab_size
        if vocab != tokenizer.vocab_size:
            raise TritterError(
                f"{config.tokenizer}: vocab mismatch: tokenizer has {tokenizer.vocab_size} "
                f"tokens, model preset '{name}' has {vocab} (pass --vocab-size to override)"
            )
    elif vocab < tokenizer.vocab_size:
        raise TritterError(
            f"{config.tokenizer}: vocab mismatch: tokenizer has {tokenizer.vocab_size} tokens, "
            f"--vocab-size is {vocab}"
        )
    overrides: dict[str, Any] = {
        "vocab_size": vocab,
        "quantization": config.quantization or "ternary",
    }
    if config.seq_len > preset.max_position_embeddings:
        overrides["max_position_embeddings"] = config.seq_len
    return resolve_config(preset, **overrides)


def _model_name(config: TrainConfig) -> str:
    return f"--init {config.init}" if config.init else f"model preset '{config.model or 'tiny'}'"


# Fields that make two configs the same network (what --model must agree with --init on).
SHAPE_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "tie_word_embeddings")  # fmt: skip


def _init_model_config(config: TrainConfig, init: str, tokenizer: Tokenizer) -> ModelConfig:
    from tritter.model import PRESETS
    from tritter.train.checkpoint import source_model_config

    source, trained_with = source_model_config(init)
    if config.model is not None:
        if config.model not in PRESETS:
            raise TritterError(
                f"invalid config field 'model' (--model): unknown preset '{config.model}' "
                f"(known: {', '.join(PRESETS)})"
            )
        preset = PRESETS[config.model]
        differ = [f for f in SHAPE_FIELDS if getattr(preset, f) != getattr(source, f)]
        if differ:
            shown = ", ".join(
                f"{f} {getattr(preset, f)} vs {getattr(source, f)}" for f in differ[:3]
            )
            raise TritterError(
                f"--model {config.model} conflicts with --init {init} ({shown}); the "
                "shape comes from --init: drop --model"
            )
    for flag, given, found in (
        ("--vocab-size", config.vocab_size, source.vocab_size),
        ("--quantization", config.quantization, source.quantization),
    ):
        if given is not None and given != found:
            raise TritterError(f"{flag} {given} conflicts with --init {init} ({found})")
    if tokenizer.vocab_size > source.vocab_size:
        raise TritterError(
            f"{config.tokenizer}: vocab mismatch: tokenizer has {tokenizer.vocab_size} tokens, "
            f"--init {init} only {source.vocab_size}"
        )
    if trained_with and trained_with != tokenizer.sha256:
        raise TritterError(
            f"{config.tokenizer}: --init {init} was trained with tokenizer "
            f"{trained_with[:12]}, --tokenizer is {tokenizer.sha256[:12]}"
        )
    if config.seq_len > source.max_position_embeddings:
        # RoPE has no learned positions: a longer window only needs the larger limit.
        return source.replace(max_position_embeddings=config.seq_len)
    return source


def estimate_memory_gib(model_config: ModelConfig, config: TrainConfig, world_size: int) -> float:
    """Rough per-rank peak: parameter/gradient/optimizer state (sharded under FSDP) plus
    activations of one micro batch (bf16 on GPU; ~34·h bytes per token per layer as in
    Korthikanti et al., one layer's worth with activation checkpointing) plus the logits."""
    from tritter.model import count_parameters

    params = count_parameters(model_config)["total"]
    state = params * STATE_BYTES_PER_PARAMETER
    if config.sharding == "fsdp":
        state /= world_size
    tokens = config.micro_batch_size * config.seq_len
    layers = 1 if config.activation_checkpointing else model_config.num_hidden_layers
    activations = tokens * model_config.hidden_size * 34 * layers
    logits = tokens * model_config.vocab_size * 4 * 2
    return (state + activations + logits) / GIB


def check(
    config: TrainConfig,
    world_size: int,
    write_probe: bool = True,
    objective: Objective | None = None,
) -> Preflight:
    """`objective` (default: language modelling on token shards) checks the data."""
    from tritter.tokenizer import Tokenizer
    from tritter.train.objective import LanguageModeling

    objective = objective if objective is not None else LanguageModeling(config)
    for name, uri in (("data", config.data), ("tokenizer", config.tokenizer)):
        if not storage.is_s3(uri) and not storage.local_path(uri).exists():
            raise TritterError(f"{uri}: --{name} not found")
    data_fingerprint = objective.data_fingerprint(config)
    tokenizer = Tokenizer.load(config.tokenizer)
    inputs = TrainInputs(
        data=storage.normalize(config.data),
        data_fingerprint=data_fingerprint,
        tokenizer=config.tokenizer,
        tokenizer_sha256=tokenizer.sha256,
        init=config.init,
        init_identity=identity(config.init) if config.init else None,
    )
    objective.check_data(config, tokenizer)
    model_config = model_config_for(config, tokenizer)
    accumulation = accumulation_steps(config, world_size)
    steps = total_steps(config, world_size)
    memory = estimate_memory_gib(model_config, config, world_size)
    if config.memory_gb is not None and memory > config.memory_gb:
        raise TritterError(
            f"{_model_name(config)} needs ~{memory:.1f} GiB per rank (weights, "
            f"gradients, AdamW state, activations), more than --memory-gb {config.memory_gb:g}; "
            "use --sharding fsdp, more ranks, --activation-checkpointing or a smaller model"
        )
    if write_probe:
        storage.ensure_writable(config.output)
    latest, resume_state = _resume_point(config.output)
    if latest is not None and resume_state is not None:
        saved_sha = resume_state.get("tokenizer_sha256")
        if saved_sha and saved_sha != tokenizer.sha256:
            raise TritterError(
                f"{latest.uri}: checkpoint was trained with tokenizer {saved_sha[:12]}, "
                f"--tokenizer is {tokenizer.sha256[:12]}"
            )
        saved_vocab = resume_state.get("vocab_size")
        if saved_vocab is not None and saved_vocab != model_config.vocab_size:
            raise TritterError(
                f"{latest.uri}: checkpoint has vocab {saved_vocab}, this run's model "
                f"{model_config.vocab_size}"
            )
    return Preflight(
        model_config, tokenizer, inputs, latest, resume_state, accumulation, steps, memory
    )


def _resume_point(output: str) -> tuple[Checkpoint | None, dict[str, Any] | None]:
    """The checkpoint a relaunch resumes from and its trainer state: the newest committed one
    whose metadata and trainer state match their recorded sha256 and parse (a corrupt one is
    skipped with a warning; the trainer checks all its files again when it restores). Every
    committed checkpoint corrupt: a one-line error naming the newest's problem."""
    from tritter.train.checkpoint import check_readable

    store = CheckpointStore(output)
    problems: list[CorruptCheckpoint] = []
    for checkpoint in store.resumable(problems.append):
        try:
            return checkpoint, check_readable(checkpoint)
        except CorruptCheckpoint as err:
            fall_back(err)
            problems.append(err)
    if problems:
        raise none_intact(store.root, problems[0])
    return None, None
