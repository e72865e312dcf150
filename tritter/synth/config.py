"""`IdentityConfig`: the options of `tritter synth identity`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tritter.config import Config, runtime_field

# Generated rows are derived from the project's own templates and the persona file; the project
# is Apache-2.0, so by default the data is too (curation's allowlist keeps it).
DEFAULT_LICENSE = "apache-2.0"


class IdentityConfig(Config):
    persona: str | None = runtime_field(
        None,
        description="persona YAML file: path or s3:// URI (default: the packaged Tritter "
        "persona); its content, not its location, is part of the result",
    )
    output: str = runtime_field(description="folder to write: path or s3:// URI")
    count: int = Field(1000, ge=1, le=1_000_000, description="conversations to generate")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed: the same seed, the same data")
    system_fraction: float = Field(
        0.5, ge=0.0, le=1.0, description="share of conversations that open with a system turn"
    )
    multi_turn_fraction: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="share of conversations asking two or three questions instead of one",
    )
    license: str = Field(
        DEFAULT_LICENSE,
        pattern=r"^[a-z0-9][a-z0-9.+-]*$",
        description="SPDX id (lower case) written into every row's `license` field",
    )


class DocstringsConfig(Config):
    output: str = runtime_field(description="folder to write: path or s3:// URI")
    count: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="conversations to generate (at most one per documented callable)",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed: the same seed, the same data")


class SamplingConfig(Config):
    """How completions are sampled (the batch size too: sampled streams depend on it)."""

    temperature: float = Field(0.7, ge=0.0, le=2.0, description="0 = greedy")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="nucleus sampling mass")
    max_new_tokens: int = Field(256, ge=1, le=8192, description="tokens per completion at most")
    batch_size: int = Field(8, ge=1, le=4096, description="prompts decoded together")


class ModelStepConfig(Config):
    """What the steps prompting a base model share (generate, critique, revise)."""

    model: str = runtime_field(
        description="base model: a Tritter checkpoints folder (newest step), step folder or "
        "BitNet directory, or any Hugging Face causal LM directory (path or s3:// URI)"
    )
    tokenizer: str | None = runtime_field(
        None, description="tokenizer folder of a Tritter checkpoint (not used for other models)"
    )
    output: str = runtime_field(description="folder to write: path or s3:// URI")
    device: str = runtime_field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "float32", "bfloat16"] = runtime_field(
        "auto", description="weights dtype (auto: bfloat16 on CUDA, float32 on CPU)"
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed: the same seed, the same data")
    shots: int = Field(3, ge=1, le=16, description="few-shot examples per prompt")
    unit_rows: int = Field(
        64, ge=1, le=1_000_000, description="rows per work unit (resume and fan-out granularity)"
    )
    workers: int = runtime_field(
        1, ge=1, le=256, description="local processes running units (each loads the model)"
    )
    license: str = Field(
        DEFAULT_LICENSE,
        pattern=r"^[a-z0-9][a-z0-9.+-]*$",
        description="SPDX id written into every row (match the base model's output terms)",
    )
    sampling: SamplingConfig = SamplingConfig()


class GenerateConfig(ModelStepConfig):
    seeds: str | None = runtime_field(
        None,
        description="seed conversations (tritter.chat rows: JSONL/Parquet file or folder; "
        "default: the packaged set); the few-shot examples",
    )
    prompts: str | None = runtime_field(
        None,
        description="conversations whose user turns are the targets (each up to its last user "
        "turn; default: the seeds themselves, each prompted with other seeds as examples)",
    )
    count: int = Field(256, ge=1, le=10_000_000, description="conversations to generate")


class CritiqueConfig(ModelStepConfig):
    input: str = runtime_field(
        description="finished folder holding conversations.jsonl (e.g. synth/generated)"
    )
    constitution: str | None = runtime_field(
        None, description="constitution YAML (default: the packaged one)"
    )
    sampling: SamplingConfig = SamplingConfig(max_new_tokens=128)


class ReviseConfig(ModelStepConfig):
    input: str = runtime_field(description="finished synth/critiques folder")
    constitution: str | None = runtime_field(
        None, description="constitution YAML (default: the packaged one)"
    )


class FilterConfig(Config):
    input: str = runtime_field(
        description="finished folder holding pairs.jsonl and/or conversations.jsonl "
        "(e.g. synth/pairs)"
    )
    output: str = runtime_field(description="folder to write: path or s3:// URI")
    classifier: str | None = runtime_field(
        None,
        description="optional safety classifier: a Hugging Face sequence-classification "
        "directory, or a Llama-Guard-style causal LM answering safe/unsafe",
    )
    classifier_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="unsafe when the classifier's unsafe probability >= this"
    )
    classifier_batch_size: int = runtime_field(16, ge=1, le=4096, description="texts per batch")
    device: str = runtime_field("auto", description="auto | cpu | cuda | cuda:N")
    near_threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="near-duplicate Jaccard similarity (word 5-grams)"
    )
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    decontamination_ngram: int = Field(
        10, ge=4, le=50, description="word n-gram length matched against HumanEval/MBPP"
    )
    decontamination_overlap: float = Field(
        0.5, gt=0.0, le=1.0, description="share of a benchmark snippet's n-grams that marks a row"
    )
    unit_rows: int = Field(1024, ge=1, le=1_000_000, description="rows per work unit")
    workers: int = runtime_field(1, ge=1, le=256, description="local processes running units")
