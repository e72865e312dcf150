"""The parameters of the two pipelines, with bounds: `PipelineParams` (`tritter-pretrain`) and
`PosttrainParams` (`tritter-posttrain`), which share the training, evaluation and cluster
parameters of `RunParams`.

Each model is the source of its pipeline's parameter descriptions (the KFP dashboard shows
them), the `tritter run` flags, and the check every step makes before it does any work: a value
out of range fails the step with one line naming the parameter.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from tritter.config import Config
from tritter.deploy import sizing
from tritter.deploy.images import image
from tritter.dpo.config import DPO_DEFAULTS
from tritter.errors import TritterError
from tritter.evaluate.config import DEFAULT_TASKS
from tritter.evaluate.config import TASKS as ALL_EVAL_TASKS
from tritter.rl.config import RL_DEFAULTS
from tritter.sft.config import PHASE_DEFAULTS

# The model presets of `tritter.model.PRESETS` (a test keeps the two lists equal). Listed here
# so that checking parameters does not import torch.
MODEL_PRESETS = ("tiny", "125m", "700m", "1.3b", "3b", "7b", "2b4t", "blueprint")
# The tasks of `tritter.evaluate` (a test keeps the lists equal): pretraining's, and the
# identity and persona tasks, which only a chat model (mid or sft) answers.
EVAL_TASKS = DEFAULT_TASKS  # what a pretraining run evaluates unless told otherwise
CHAT_TASKS = ("identity", "persona")  # questions only a chat model can answer
# Every task of `tritter evaluate`: a base model may run all but the chat ones.
BASE_EVAL_TASKS = tuple(task for task in ALL_EVAL_TASKS if task not in CHAT_TASKS)
CHAT_EVAL_TASKS = ALL_EVAL_TASKS
MAX_TRAIN_HOURS = 24 * 90
# The post-training evaluation leaves perplexity out by default: it needs the run's packed
# token shards (`<run_root>/tokens`), which a run post-training someone else's base lacks.
POSTTRAIN_EVAL_TASKS = ("humaneval", "mbpp", "identity", "persona")
# Name of the generated identity set among the conversation sources.
IDENTITY_SOURCE = "identity"
# Name of the constitutional conversations and pairs among the sources.
CONSTITUTIONAL_SOURCE = "constitutional"
SOURCE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class RunParams(Config):
    """What both pipelines share: the training job's shape and length, evaluation, storage,
    metrics and where training runs. Each pipeline adds its own `run_root` and inputs."""

    SUMMARY: ClassVar[str] = ""
    TASKS: ClassVar[tuple[str, ...]] = BASE_EVAL_TASKS  # what `eval_tasks` may name

    seq_len: int = Field(2048, ge=8, le=1_048_576, description="training sequence length")
    nodes: int = Field(1, ge=1, le=1024, description="training nodes (PyTorchJob replicas)")
    gpus_per_node: int = Field(
        8, ge=0, le=16, description="GPUs per training node (0: CPU training, one process)"
    )
    micro_batch_size: int = Field(
        8, ge=1, le=4096, description="sequences per GPU per forward pass"
    )
    global_batch_tokens: int = Field(
        0,
        ge=0,
        le=10**9,
        description="tokens per optimizer step over all GPUs, a multiple of GPUs x micro batch "
        "x seq_len (0: one micro batch per GPU; the BitNet recipe uses ~1M)",
    )
    checkpoint_every: int = Field(
        500, ge=1, le=10**9, description="save a checkpoint every this many steps"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed for packing and training")
    eval_tasks: str = Field(
        ",".join(EVAL_TASKS),
        description="comma-separated evaluation tasks: " + ", ".join(BASE_EVAL_TASKS),
    )
    eval_limit: int = Field(
        0,
        ge=0,
        le=100_000,
        description="evaluate only the first N problems of each code task and N prompts of "
        "each persona kind (0: all)",
    )
    eval_max_new_tokens: int = Field(
        512, ge=1, le=32768, description="generation budget per code-task sample (tokens)"
    )
    s3_endpoint: str = Field(
        "", description="S3 endpoint URL (empty: AWS, or AWS_ENDPOINT_URL_S3 from the Secret)"
    )
    pushgateway_url: str = Field(
        "", description="Prometheus Pushgateway URL for the short steps' counters (empty: off)"
    )
    s3_secret: str = Field(
        "tritter-s3",
        description="Kubernetes Secret holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    )
    image_pull_secrets: str = Field(
        "",
        description="comma-separated Secrets for pulling the training pods' image from a private "
        "registry (the chart sets them, and bakes the same into every step's pod)",
    )
    train_cpu: str = Field("16", description="CPU of each training pod, e.g. 16 or 500m")
    train_memory: str = Field("200Gi", description="memory of each training pod, e.g. 200Gi")
    node_selector: str = Field(
        "", description='JSON object of node labels for the training pods, e.g. {"pool": "gpu"}'
    )
    tolerations: str = Field(
        "",
        description="JSON list of tolerations for the training pods, e.g. "
        '[{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]',
    )
    priority_class: str = Field("", description="PriorityClass of the training pods (empty: none)")
    service_account: str = Field(
        "", description="service account of the training pods (empty: the namespace's default)"
    )
    gang_scheduling: bool = Field(
        False,
        description="schedule a training job's pods all at once or not at all "
        "(runPolicy.schedulingPolicy.minAvailable = every pod; needs the Training Operator "
        "running with a gang scheduler: Volcano or scheduler-plugins)",
    )
    scheduling_queue: str = Field(
        "", description="gang scheduler queue of the training jobs (Volcano; empty: default)"
    )
    train_image: str = Field(
        image("train"), min_length=1, description="container image of the training pods"
    )
    namespace: str = Field(
        "", description="namespace of the PyTorchJob (empty: the pipeline's own namespace)"
    )
    launcher: Literal["auto", "kubernetes", "trainjob", "local"] = Field(
        "auto",
        description="how training starts: kubernetes (a Training Operator PyTorchJob), trainjob "
        "(a Kubeflow Trainer v2 TrainJob on the torch-distributed runtime), local (the trainer "
        "in the step itself) or auto (kubernetes inside a cluster)",
    )
    train_timeout_hours: float = Field(
        168.0,
        gt=0,
        le=MAX_TRAIN_HOURS,
        description="fail a training step after this many hours",
    )

    @field_validator("train_cpu")
    @classmethod
    def _train_cpu(cls, value: str) -> str:
        sizing.cpu_cores(value)
        return value

    @field_validator("train_memory")
    @classmethod
    def _train_memory(cls, value: str) -> str:
        sizing.memory_bytes(value)
        return value

    @field_validator("node_selector")
    @classmethod
    def _node_selector(cls, value: str) -> str:
        if value.strip():
            parsed = json.loads(value)
            if not isinstance(parsed, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
            ):
                raise ValueError('expected a JSON object of label strings, e.g. {"pool": "gpu"}')
        return value

    @field_validator("tolerations")
    @classmethod
    def _tolerations(cls, value: str) -> str:
        if value.strip():
            parsed = json.loads(value)
            if not isinstance(parsed, list):
                raise ValueError("expected a JSON list of tolerations")
            for item in parsed:
                sizing.Toleration.model_validate(item)
        return value

    def training_placement(self) -> dict[str, Any]:
        """The training pods' node selector, tolerations and priority class."""
        return {
            "node_selector": json.loads(self.node_selector) if self.node_selector.strip() else {},
            "tolerations": tuple(json.loads(self.tolerations) if self.tolerations.strip() else []),
            "priority_class": self.priority_class or None,
        }

    @field_validator("run_root", check_fields=False)
    @classmethod
    def _run_root_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a run folder is required (e.g. s3://bucket/runs/first)")
        return value.strip().rstrip("/")

    @field_validator("eval_tasks")
    @classmethod
    def _known_tasks(cls, value: str) -> str:
        tasks = split_list(value)
        if not tasks:
            raise ValueError("at least one task is needed")
        for task in tasks:
            if task in ("identity", "persona") and task not in cls.TASKS:
                raise ValueError(f"the {task} task needs a chat model (tritter-posttrain)")
            if task not in cls.TASKS:
                raise ValueError(f"unknown task '{task}' (known: {', '.join(cls.TASKS)})")
        return value


class PipelineParams(RunParams):
    """The `tritter-pretrain` pipeline."""

    SUMMARY: ClassVar[str] = (
        "Curate code, train a tokenizer, pack tokens, pretrain a ternary model, evaluate."
    )

    source: str = Field(
        "python-stdlib",
        min_length=1,
        description="source code to train on: a directory or s3:// prefix of source files, "
        "JSONL/Parquet documents, hf://DATASET[:CONFIG][:SPLIT], or 'python-stdlib'",
    )
    run_root: str = Field(
        "",
        description="run folder (s3://bucket/prefix or a local path) that receives curated/ "
        "tokenizer/ tokens/ checkpoints/ eval/ report/",
    )
    languages: str = Field(
        "", description="comma-separated languages to keep (empty: every supported language)"
    )
    mixture: str = Field(
        "",
        description="token share per subset, e.g. python=0.4,rust=0.25,curated_repos=0.2,"
        "docs=0.1,conversations=0.05 (empty: the default mixture)",
    )
    min_stars: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="drop documents whose repository's stars are known and below this "
        "(The Stack-style metadata; unknown stars are never dropped); 0: off",
    )
    semantic_dedup: str = Field(
        "",
        description="semantic dedup after exact and near dedup: a Hugging Face encoder "
        "(folder or s3:// prefix written by save_pretrained); its k-means clusters fan out "
        "one step each (empty: off)",
    )
    semantic_threshold: float = Field(
        0.95, gt=0.0, lt=1.0, description="cosine above which two documents are duplicates"
    )
    vocab_size: int = Field(65536, ge=512, le=65536, description="tokenizer vocabulary size")
    tokenizer_sample_bytes: int = Field(
        100_000_000,
        ge=10_000,
        le=100_000_000_000,
        description="bytes of curated text the tokenizer trains on",
    )
    token_budget: int = Field(
        0,
        ge=0,
        le=10**15,
        description="training tokens to pack (0: as many as the data holds)",
    )
    model: str = Field(
        "700m",
        description="model preset: " + ", ".join(MODEL_PRESETS) + " (ignored with base_model: "
        "the shape comes from the base)",
    )
    max_steps: int = Field(10_000, ge=1, le=10**9, description="optimizer steps to train")
    base_model: str = Field(
        "",
        description="continue pretraining from these weights instead of a fresh model: a "
        "Hugging Face BitNet directory (e.g. bitnet-b1.58-2B-4T-bf16 copied to s3://), a "
        "checkpoints folder or one step folder, local or s3:// (empty: from scratch); the "
        "optimizer starts fresh and a relaunch resumes from the run's own checkpoints",
    )
    tokenizer_source: str = Field(
        "",
        description="import this tokenizer instead of training one: a Hugging Face folder with "
        "tokenizer.json or a SentencePiece folder, local or s3:// (empty: train one, or with "
        "base_model, import the base model folder's own tokenizer)",
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in MODEL_PRESETS:
            raise ValueError(f"unknown preset (known: {', '.join(MODEL_PRESETS)})")
        return value

    @field_validator("base_model", "tokenizer_source")
    @classmethod
    def _strip_location(cls, value: str) -> str:
        return value.strip()

    def imported_tokenizer(self) -> str:
        """The tokenizer to import ('' = train one): as given, else the base model's own (a
        base model keeps the tokenizer its embeddings were trained with)."""
        return self.tokenizer_source or self.base_model

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: str) -> str:
        from tritter.curate import languages

        for name in split_list(value):
            if languages.normalize_language(name) is None:
                raise ValueError(f"unknown language '{name}'")
        return value

    @field_validator("mixture")
    @classmethod
    def _valid_mixture(cls, value: str) -> str:
        from tritter.data.mixture import parse_mixture

        if value.strip():
            parse_mixture(value)
        return value


class PosttrainParams(RunParams):
    """The `tritter-posttrain` pipeline: conversations → midtraining → SFT → evaluation."""

    SUMMARY: ClassVar[str] = (
        "Generate identity (and default instruction) conversations, midtrain and fine-tune a "
        "base model on them, evaluate."
    )
    TASKS: ClassVar[tuple[str, ...]] = CHAT_EVAL_TASKS

    base: str = Field(
        "",
        description="the weights to start from: a pretrain checkpoints folder (its newest "
        "committed step), one step folder or a Hugging Face BitNet directory (local or s3://)",
    )
    run_root: str = Field(
        "",
        description="run folder (s3://bucket/prefix or a local path) that receives synth/ mid/ "
        "sft/ (the evaluation in sft/eval/)",
    )
    tokenizer: str = Field(
        "",
        description="tokenizer the base was trained with: folder or tokenizer.model URI "
        "(empty: <run_root>/tokenizer)",
    )
    identity_count: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="identity conversations to generate into <run_root>/synth/identity (0: none)",
    )
    conversations: str = Field(
        "",
        description="comma-separated NAME=URI conversation sources (JSONL/Parquet files or "
        "folders, s3:// prefixes, hf://DATASET[:CONFIG][:SPLIT]) trained on with the identity "
        "set (empty: the docstring instruction set generated into <run_root>/synth/docstrings)",
    )
    docstrings_count: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="docstring instruction conversations to generate when conversations is "
        "empty (at most one per documented standard-library callable)",
    )
    mid_max_steps: int = Field(
        0,
        ge=0,
        le=10**9,
        description="optimizer steps of midtraining (0: one pass over the conversations)",
    )
    mid_lr: float = Field(
        PHASE_DEFAULTS["mid"]["optim"]["lr"],
        gt=0,
        le=1.0,
        description="peak learning rate of midtraining",
    )
    sft_max_steps: int = Field(
        0,
        ge=0,
        le=10**9,
        description="optimizer steps of SFT (0: one pass over the conversations)",
    )
    sft_lr: float = Field(
        PHASE_DEFAULTS["sft"]["optim"]["lr"], gt=0, le=1.0, description="peak learning rate of SFT"
    )
    constitutional_count: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="conversations to generate from the base model by few-shot prompting on the "
        "shipped seed set, then critique and revise against the constitution and filter, into "
        "<run_root>/synth/ (0: off); the revised conversations join SFT, the pairs join DPO",
    )
    preference_pairs: str = Field(
        "",
        description="comma-separated NAME=URI preference-pair sources ({prompt, chosen, "
        "rejected} JSONL/Parquet, s3://, hf://) for DPO; DPO runs after SFT when there are "
        "pairs (these and the constitutional ones), else the SFT model is the result",
    )
    dpo_max_steps: int = Field(
        0, ge=0, le=10**9, description="optimizer steps of DPO (0: one pass over the pairs)"
    )
    dpo_lr: float = Field(
        DPO_DEFAULTS["optim"]["lr"], gt=0, le=1.0, description="peak learning rate of DPO"
    )
    dpo_beta: float = Field(
        0.1, gt=0, le=100, description="DPO beta: reward = beta × (log p_policy − log p_ref)"
    )
    rl_prompts: str = Field(
        "",
        description="prompt rows for RL after SFT/DPO ({prompt, ...} JSONL/Parquet, s3://, "
        "hf://, or builtin:arithmetic; empty: no RL): the policy samples rl_samples_per_prompt "
        "completions of each, scored by rl_reward (GRPO-style, on-policy)",
    )
    rl_reward: str = Field(
        "numeric",
        description="the RL reward: unit_tests (rows carry `test`), numeric (rows carry "
        "`answer`), format_number, format_code, or module:function from the train image's "
        "PYTHONPATH",
    )
    rl_max_steps: int = Field(
        0, ge=0, le=10**9, description="optimizer steps of RL (0: one pass over the prompts)"
    )
    rl_samples_per_prompt: int = Field(
        8,
        ge=2,
        le=1024,
        description="completions sampled per RL prompt (the group its rewards are normalised "
        "in); with rl_prompts, micro_batch_size must be a multiple of it",
    )
    rl_lr: float = Field(
        RL_DEFAULTS["optim"]["lr"], gt=0, le=1.0, description="peak learning rate of RL"
    )
    eval_tasks: str = Field(
        ",".join(POSTTRAIN_EVAL_TASKS),
        description="comma-separated evaluation tasks: "
        + ", ".join(CHAT_EVAL_TASKS)
        + " (perplexity scores the held-out shards in <run_root>/tokens; identity asks who the "
        "model is; persona measures flattery, false-premise agreement, refusals and admitted "
        "uncertainty)",
    )

    @field_validator("base")
    @classmethod
    def _base_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(
                "the weights to start from are required (e.g. s3://b/runs/x/checkpoints)"
            )
        return value.strip().rstrip("/")

    @field_validator("tokenizer")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @field_validator("conversations")
    @classmethod
    def _named_sources(cls, value: str, info: ValidationInfo) -> str:
        sources = parse_sources(value)
        if IDENTITY_SOURCE in sources and info.data.get("identity_count"):
            raise ValueError(
                f"the name '{IDENTITY_SOURCE}' is the generated identity set's (rename the "
                "source, or set identity_count=0)"
            )
        return value

    def tokenizer_uri(self) -> str:
        """The tokenizer to use: as given, else the run's own `tokenizer/`."""
        from tritter.run_folder import RunFolder

        return self.tokenizer or RunFolder(self.run_root).tokenizer

    def given_sources(self) -> dict[str, str]:
        """The `conversations` parameter as name → URI (empty: use the default sets)."""
        return parse_sources(self.conversations)

    def given_pairs(self) -> dict[str, str]:
        """The `preference_pairs` parameter as name → URI."""
        return parse_sources(self.preference_pairs)

    @field_validator("preference_pairs")
    @classmethod
    def _named_pairs(cls, value: str) -> str:
        if CONSTITUTIONAL_SOURCE in parse_sources(value):
            raise ValueError(f"the name '{CONSTITUTIONAL_SOURCE}' is the generated pairs'")
        return value

    @field_validator("rl_prompts")
    @classmethod
    def _one_source(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @field_validator("rl_reward")
    @classmethod
    def _known_reward(cls, value: str) -> str:
        from tritter.rl.runner import check_spec, describe_builtins

        try:
            check_spec(value.strip())
        except TritterError as err:
            raise ValueError(
                f"expected a built-in reward ({describe_builtins()}) or module:function"
            ) from err
        return value.strip()

    @field_validator("rl_samples_per_prompt")
    @classmethod
    def _groups_fit(cls, value: int, info: ValidationInfo) -> int:
        micro, tokens = info.data.get("micro_batch_size"), info.data.get("global_batch_tokens")
        rl = bool(info.data.get("rl_prompts"))  # only when RL runs
        if rl and isinstance(micro, int) and not tokens and micro % value:
            raise ValueError(
                f"micro_batch_size {micro} (completions per GPU and step) must be a multiple of it"
            )
        return value


def parse_sources(value: str) -> dict[str, str]:
    """`a=s3://b/a,b=/data/b.jsonl` → {"a": "s3://b/a", "b": "/data/b.jsonl"}."""
    sources: dict[str, str] = {}
    for entry in split_list(value):
        name, sep, uri = (part.strip() for part in entry.partition("="))
        if not sep or not name or not uri:
            raise ValueError(f"expected NAME=URI, got '{entry}'")
        if not set(name) <= SOURCE_NAME_CHARS:
            raise ValueError(f"source name '{name}': use letters, digits, '_', '-', '.'")
        if name in sources:
            raise ValueError(f"two sources named '{name}'")
        sources[name] = uri.rstrip("/")
    return sources


P = TypeVar("P", bound=RunParams)


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def check(**values: Any) -> PipelineParams:
    """Validate the `tritter-pretrain` parameters a step received (see `check_params`)."""
    return check_params(PipelineParams, values)


def check_params(kind: type[P], values: dict[str, Any]) -> P:
    """Validate the parameters a step received; one `TritterError` line naming the first bad
    parameter. Parameters the step did not receive take their defaults."""
    try:
        return kind.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "parameters"
        got = (
            f" (got {first['input']!r})" if "input" in first and first["type"] != "missing" else ""
        )
        raise TritterError(
            f"pipeline parameter '{name}': {first['msg'].removeprefix('Value error, ')}{got}"
        ) from err


def describe(kind: type[RunParams] = PipelineParams) -> str:
    """The pipeline docstring: one `name: description` line per parameter (KFP reads it)."""
    lines = [kind.SUMMARY, "", "Args:"]
    for name, info in kind.model_fields.items():
        lines.append(f"    {name}: {info.description}")
    return "\n".join(lines) + "\n"
