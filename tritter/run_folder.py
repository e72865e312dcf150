"""The run folder: every file a run produces, which stage writes it, and what its manifest holds.

A run lives under one root URI (a local path, `file://…` or `s3://bucket/prefix`), one folder per
stage. Each stage writes its files whole and then, last, `_manifest.json` (`tritter.manifest`);
a folder without it is unfinished. This module is the contract between the stages: the writing
stage builds the typed records below, and every reader (the next stage, evaluation, the report,
the tests) reads them through the same `Contract`, so nobody depends on a key nobody writes.

    <run>/
      curated/            curate     part-NNNNN.parquet (or .jsonl): the curated documents
                                     (`tritter.schema.CURATED_SCHEMA`); rejects/part-NNNNN.jsonl:
                                     path, reason, detector of every dropped document (never its
                                     content); _work/ while running
      tokenizer/          tokenizer  tokenizer.model (plain SentencePiece), tokenizer.vocab; or
                                     (stage tokenizer-import) a copied tokenizer.json (+ config)
      tokens/             pack       <split>/<subset>/NNNNN.tokens.npy + NNNNN.docs.npy +
                                     NNNNN.documents.parquet (which curated document each span
                                     is), split train|val; _work/ while running
      takedown/           takedown   log.jsonl: one `TakedownEntry` per takedown (never any
                                     document text); _pending.json while one runs
      checkpoints/        pretrain   config.yaml, metrics.jsonl (one JSON record per line, kind
                                     train|val|checkpoint), step-NNNNNNNN/ (DCP shards,
                                     trainer_state.pt, model.json, config.yaml, _COMMITTED
                                     written last), final/ (a Hugging Face BitNet directory +
                                     tritter.json); the manifest after final/
      eval/               evaluate   results.json, samples-<task>.jsonl
      report/             report     report.html (self-contained), report.md, report.json, *.png

    post-training:
      mid/  sft/          sft        checkpoints folders as above (`tritter sft --phase mid|sft`),
                                     plus data/: the conversation sources rendered into token
                                     shards with loss masks (NNNNN.mask.npy), manifest sft-data
      dpo/                dpo        a checkpoints folder as above (`tritter dpo`), plus data/:
                                     the preference pairs rendered, with the reference model's
                                     log-probabilities, manifest dpo-data
      rl/                 rl         a checkpoints folder as above (`tritter rl`: on-policy RL
                                     with verifiable rewards), plus data/: the prompt rows kept
                                     (prompts.jsonl), manifest rl-data
      synth/identity/     synth-identity  conversations.jsonl: identity conversations generated
                                     from a persona (`tritter.chat` row format)
      synth/generated/    synth-generate  conversations.jsonl: a base model's few-shot answers
      synth/critiques/    synth-critique  critiques.jsonl: {id, prompt, response, principle,
                                     critique}
      synth/pairs/        synth-revise    pairs.jsonl: {id, prompt, chosen, rejected, principle,
                                     critique} (what `tritter dpo` reads) + conversations.jsonl
      synth/filtered/     synth-filter    the same two files, unsafe/duplicate/contaminated rows
                                     dropped; _work/ while any of these four runs

    `raw/` and `filtered/` are reserved for a snapshot of the source and the pre-dedup documents;
    no stage of this version writes them (the report still shows their manifests when present).

Input locations in the `*Inputs` records are `runtime_field`s: a fingerprint identifies an input
by its content (its manifest's fingerprint, a sha256), so a moved run folder is still done.

Every `_manifest.json` is the same envelope (stage, fingerprint, inputs, config, counts, files,
extra, code_version, created); the records below say what `inputs`, `counts` and `extra` hold
for each stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from tritter import storage
from tritter.config import runtime_field
from tritter.manifest import Contract, Manifest, OneOf, Record

# -- folder names --------------------------------------------------------------------------------

RAW = "raw"
FILTERED = "filtered"
CURATED = "curated"
TOKENIZER = "tokenizer"
TOKENS = "tokens"
CHECKPOINTS = "checkpoints"
EVAL = "eval"
REPORT = "report"
MID = "mid"
SFT = "sft"
SYNTH = "synth"
DPO = "dpo"
RL = "rl"
SYNTH_IDENTITY = f"{SYNTH}/identity"
SYNTH_DOCSTRINGS = f"{SYNTH}/docstrings"
# Constitutional data (`tritter synth generate|critique|revise|filter`): each step's folder is
# the next step's input.
SYNTH_GENERATED = f"{SYNTH}/generated"
SYNTH_CRITIQUES = f"{SYNTH}/critiques"
SYNTH_PAIRS = f"{SYNTH}/pairs"
SYNTH_FILTERED = f"{SYNTH}/filtered"
# The fine-tuned model's evaluation sits beside its checkpoints; the pretrained model's keeps
# eval/, so a run folder holding both pipelines keeps both.
SFT_EVAL = f"{SFT}/{EVAL}"
DPO_EVAL = f"{DPO}/{EVAL}"  # the same, when DPO followed SFT
RL_EVAL = f"{RL}/{EVAL}"  # the same, when RL followed SFT (or DPO)

# Raw logs of `tritter run` (KFP's output of every step), one file per invocation.
LOGS = "logs"

# Scratch folder of fan-out stages (plan, unit markers, per-unit intermediates); removed when
# the stage finishes.
WORK = "_work"

# Files inside the stage folders.
TOKENIZER_MODEL = "tokenizer.model"
TOKENIZER_VOCAB = "tokenizer.vocab"
TRAIN_CONFIG = "config.yaml"  # checkpoints/ and every step folder: the resolved TrainConfig
METRICS = "metrics.jsonl"
STEP_PREFIX = "step-"
COMMIT_MARKER = "_COMMITTED"  # written last into a step folder: it is complete
TRAINER_STATE = "trainer_state.pt"
MODEL_CONFIG = "model.json"
FINAL = "final"
FINAL_INFO = "tritter.json"  # written last into final/
RESULTS = "results.json"
REPORT_FILES = ("report.html", "report.md", "report.json")


def step_folder(step: int) -> str:
    """`step-00000100`: eight digits, so names sort in step order."""
    return f"{STEP_PREFIX}{step:08d}"


def samples_file(task: str) -> str:
    return f"samples-{task}.jsonl"


@dataclass(frozen=True)
class RunFolder:
    """The URIs of one run's parts."""

    root: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", storage.normalize(self.root))

    def part(self, name: str) -> str:
        return storage.join(self.root, name)

    @property
    def curated(self) -> str:
        return self.part(CURATED)

    @property
    def tokenizer(self) -> str:
        return self.part(TOKENIZER)

    @property
    def tokens(self) -> str:
        return self.part(TOKENS)

    @property
    def checkpoints(self) -> str:
        return self.part(CHECKPOINTS)

    @property
    def eval(self) -> str:
        return self.part(EVAL)

    @property
    def report(self) -> str:
        return self.part(REPORT)


# -- shared pieces -------------------------------------------------------------------------------


class Nothing(Record):
    """An empty part of a manifest."""


class DocBytes(Record):
    documents: int = 0
    bytes: int = 0


class ResolvedMixtureRecord(Record):
    """A mixture after restricting it to the subsets present in the data."""

    target: dict[str, float]  # present and weighted subsets, renormalized to sum 1
    requested: dict[str, float]  # as given
    renormalized: bool
    missing_subsets: list[str]  # weighted but absent from the data
    excluded_subsets: list[str]  # present but not weighted (left out)


# -- curate --------------------------------------------------------------------------------------


class CurateInputs(Record):
    source: str  # what the user named (`--input`)
    listing_sha256: str | None  # the enumerated input items: a changed source changes it
    # With --semantic-dedup: the encoder's identity (files, sizes, config.json's sha256).
    semantic_encoder: str | None = None


class SemanticPair(Record):
    """A document semantic dedup removed and the copy kept instead (no text)."""

    removed_id: str
    removed_path: str
    kept_id: str
    kept_path: str
    cosine: float


class SemanticDedupCounts(Record):
    """`--semantic-dedup`: embeddings, k-means clusters, pairs above the cosine threshold."""

    encoder: str
    threshold: float
    clusters: int  # k-means clusters (pairs are looked for within each)
    embedded: int  # documents embedded: the survivors of exact and near dedup
    pairs: int  # pairs within a cluster whose cosine exceeds the threshold
    groups: int  # connected groups of such pairs: each keeps its best member
    removed: int  # semantic_duplicate decisions
    largest_group: int
    examples: list[SemanticPair]  # the removed pairs nearest the threshold


class DedupCounts(Record):
    exact_groups: int
    exact_removed: int
    largest_exact_group: int
    near_clusters: int
    near_removed: int
    largest_near_cluster: int
    candidate_pairs: int  # MinHash LSH band collisions
    verified_pairs: int  # of those, pairs whose exact Jaccard reached the threshold
    threshold: float
    num_perm: int
    bands: int
    rows: int
    semantic: SemanticDedupCounts | None = None  # with --semantic-dedup only


class PiiCounts(Record):
    """Personal data found in the documents that reached the PII check (`--pii`: redacted,
    kept or dropped). Kinds: email, ip_address, phone, name."""

    values: dict[str, int] = Field(default_factory=dict)  # kind → values found
    documents: dict[str, int] = Field(default_factory=dict)  # kind → documents holding one


class RepoSignalCounts(Record):
    """Documents scored with each repository-level signal (`tritter.curate.repos`); the drops
    of `--min-stars` and the homework rule are in `dropped` (`min_stars`, `homework`)."""

    stars_known: int = 0  # documents whose repository's stars were known
    dated: int = 0  # with a last-change date and a snapshot date: freshness applied
    stale: int = 0  # of those, penalised as untouched for over 4 years
    repo_tests: int = 0  # code without tests of its own, credited for its repository's tests


class CurateCounts(Record):
    input_documents: int
    input_bytes: int
    read_bytes: int
    kept_documents: int
    kept_bytes: int
    dropped_documents: int
    dropped: dict[str, int]  # reason → documents; every input is kept or dropped for one reason
    labels: dict[str, int]  # quality label → kept documents
    negatives: dict[str, int]  # security flaw (or low_quality) → negative documents
    languages: dict[str, int]
    subsets: dict[str, int]
    licenses: dict[str, int]
    dedup: DedupCounts
    shards: int
    pii: PiiCounts = Field(default_factory=PiiCounts)  # absent from manifests before PII scrubbing
    repo_signals: RepoSignalCounts = Field(default_factory=RepoSignalCounts)  # absent before them


class LicensePolicyRecord(Record):
    allowed: list[str]
    allow_unknown: bool
    assume_license: str | None
    source_declaration: str | None


class CurateThroughput(Record):
    seconds: float
    read_mb_per_second: float
    process_seconds: float


class CurateExtra(Record):
    source: dict[str, Any]  # the resolved input (`tritter.curate.sources.Source`)
    license_policy: LicensePolicyRecord
    format: str  # parquet | jsonl
    schema_: str = Field(alias="schema")
    throughput: CurateThroughput
    input_files: int | None
    listing_sha256: str | None


CURATE_MANIFEST = Contract("curate", CURATED, CurateInputs, CurateCounts, CurateExtra)
CurateManifest = Manifest[CurateInputs, CurateCounts, CurateExtra]


# -- tokenizer -----------------------------------------------------------------------------------


class TokenizerInputs(Record):
    curated: str = runtime_field()
    curated_fingerprint: str


class TokenizerSample(Record):
    documents: int
    bytes: int
    sentences: int
    subsets: dict[str, DocBytes]
    languages_bytes: dict[str, int]
    mixture_realized: dict[str, float]  # share of sample bytes per subset


class Compression(Record):
    """Held-out compression of one language (or `all`)."""

    documents: int
    chars: int
    bytes: int
    tokens: int
    chars_per_token: float
    bytes_per_token: float


class TokenizerSeconds(Record):
    sample: float
    train: float
    total: float


class TokenizerCounts(Record):
    vocab_size: int
    sample: TokenizerSample
    heldout: dict[str, DocBytes]  # subset → held-out documents and bytes
    compression: dict[str, Compression]  # language (and "all") → compression
    seconds: TokenizerSeconds
    peak_rss_bytes: int
    threads: int


class SpecialTokenRecord(Record):
    name: str
    piece: str
    id: int
    purpose: str


class TokenizerExtra(Record):
    sha256: str  # of tokenizer.model: what pack and training check
    vocab_size: int
    special_ids: dict[str, int]
    special_tokens: list[SpecialTokenRecord]
    byte_fallback_ids: list[int]
    mixture: ResolvedMixtureRecord
    sentencepiece: dict[str, Any]  # the trainer options and the library version


TOKENIZER_MANIFEST = Contract(
    "tokenizer", TOKENIZER, TokenizerInputs, TokenizerCounts, TokenizerExtra
)
TokenizerManifest = Manifest[TokenizerInputs, TokenizerCounts, TokenizerExtra]


# -- tokenizer import (`tritter tokenizer import`: an existing tokenizer as the run's) -----------


class TokenizerImportInputs(Record):
    source: str = runtime_field()
    source_sha256: str  # of the imported tokenizer.json / tokenizer.model
    curated: str | None = runtime_field(None)  # where compression was measured, when given
    curated_fingerprint: str | None = None


class TokenizerImportCounts(Record):
    vocab_size: int
    files: int  # copied into the folder
    bytes: int
    # Compression on curated documents per language (and "all"); empty without --curated.
    compression: dict[str, Compression]
    seconds: float


class TokenizerImportExtra(Record):
    sha256: str  # of tokenizer.json (or tokenizer.model): what pack and training check
    vocab_size: int
    kind: Literal["huggingface", "sentencepiece"]
    special_ids: dict[str, int]
    token_dtype: Literal["uint16", "uint32"]  # what packed shards will hold
    # Chat markers put on reserved special tokens by the import: marker name → the token renamed.
    chat_markers: dict[str, str] = Field(default_factory=dict)


TOKENIZER_IMPORT_MANIFEST = Contract(
    "tokenizer-import", TOKENIZER, TokenizerImportInputs, TokenizerImportCounts,
    TokenizerImportExtra,
)  # fmt: skip
TokenizerImportManifest = Manifest[
    TokenizerImportInputs, TokenizerImportCounts, TokenizerImportExtra
]
# tokenizer/ holds one of the two: trained here, or imported (e.g. BitNet 2B4T's own).
TOKENIZER_OUTPUT = OneOf((TOKENIZER_MANIFEST, TOKENIZER_IMPORT_MANIFEST))


# -- pack ----------------------------------------------------------------------------------------


class PackInputs(Record):
    curated: str = runtime_field()
    curated_fingerprint: str
    tokenizer: str = runtime_field()
    tokenizer_sha256: str


class PackMixture(Record):
    target: dict[str, float]  # share of training tokens wanted per subset (sums to 1)
    realized: dict[str, float]  # share of training tokens packed per subset
    repetition: dict[str, float]  # packed / unique training tokens per subset
    planned_repetition: dict[str, float]
    budget_tokens: int
    planned_tokens: int
    budget_capped: bool  # every subset hit --max-repetition before the budget


class PackCounts(Record):
    # split (train|val) → subset → value
    tokens: dict[str, dict[str, int]]
    tokens_total: dict[str, int]
    documents: dict[str, dict[str, int]]
    unique_tokens: dict[str, dict[str, int]]
    languages: dict[str, dict[str, int]]  # split → language → tokens
    mixture: PackMixture
    text_bytes: int
    shards: int
    seconds: float
    pack_seconds: float
    pack_cpu_seconds: float


class ShardRecord(Record):
    """One output shard, in stream order."""

    split: str
    subset: str
    tokens: str  # relative path of NNNNN.tokens.npy
    docs: str  # relative path of NNNNN.docs.npy
    # Relative path of NNNNN.mask.npy, the spans of tokens that are training targets; None: all
    # are (pretraining text). Conversations learn only what the assistant writes.
    mask: str | None = None
    # Relative path of NNNNN.documents.parquet (`tritter.data.sidecar`); None: packed before
    # sidecars were written (a takedown then asks for a re-pack), or not pack's shards.
    documents: str | None = None
    num_tokens: int
    num_documents: int


class TokenShardsExtra(Record):
    """What a reader of token shards needs (`tritter.loader`); the pack and sft-data stages both
    write shards in this format."""

    tokenizer_sha256: str
    vocab_size: int
    dtype: str  # uint16 | uint32
    eos_id: int
    pad_id: int
    shards: list[ShardRecord]


class PackExtra(TokenShardsExtra):
    seq_len: int
    format: dict[str, str]  # the shard layout in words
    mixture: ResolvedMixtureRecord
    val_too_short: list[str]  # subsets whose validation stream is shorter than seq_len + 1
    val_missing: list[str]  # subsets with no validation documents
    plan: dict[str, Any]  # the plan the shards were packed from (`tritter.pack.plan.Plan`)


PACK_MANIFEST = Contract("pack", TOKENS, PackInputs, PackCounts, PackExtra)
PackManifest = Manifest[PackInputs, PackCounts, PackExtra]


# -- takedown (`tritter takedown`: documents removed from curated/ and tokens/ after the fact) -----

TAKEDOWN = "takedown"
TAKEDOWN_LOG = "log.jsonl"  # one TakedownEntry (JSON) per line, oldest first
TAKEDOWN_PENDING = "_pending.json"  # the takedown in progress (`tritter.takedown.journal`)


class TakedownSelectors(Record):
    """Which documents: any that matches one of these (curated `repo`, `id`; `path` or
    `repo/path` against a glob)."""

    repos: list[str] = Field(default_factory=list)
    ids: list[str] = Field(default_factory=list)
    path_globs: list[str] = Field(default_factory=list)


class TakedownFile(Record):
    """One file rewritten, by path relative to the run folder."""

    path: str
    old_sha256: str
    old_size: int
    new_sha256: str | None = None  # None until the rewrite is staged
    new_size: int | None = None
    documents_removed: int  # curated rows, or document copies of a token shard
    tokens_removed: int = 0


class TakedownEntry(Record):
    id: str  # this takedown (the journal and its log line share it)
    requested_by: str
    reason: str | None
    selectors: TakedownSelectors
    started: str  # UTC, ISO 8601
    finished: str | None = None
    curated_documents_removed: int
    token_documents_removed: int  # copies (a repeated document counts each time)
    tokens_removed: int
    files: list[TakedownFile]
    # Checkpoints whose training consumed a removed document's tokens, and how that was told.
    checkpoints: list[str]
    checkpoints_basis: str
    notes: list[str] = Field(default_factory=list)


# -- pretrain ------------------------------------------------------------------------------------


class TrainInputs(Record):
    data: str = runtime_field()
    data_fingerprint: str
    tokenizer: str = runtime_field()
    tokenizer_sha256: str
    init: str | None = runtime_field(None)  # the weights training started from (`--init`)
    init_identity: dict[str, Any] | None = None  # their identity (`tritter.train.store.identity`)


class TrainCounts(Record):
    steps: int
    tokens: int
    skipped_steps: int


class TrainExtra(Record):
    model: dict[str, Any]  # the ModelConfig trained
    world_size: int
    phase: str = "pretrain"  # pretrain | mid | sft | dpo | rl


PRETRAIN_MANIFEST = Contract("pretrain", CHECKPOINTS, TrainInputs, TrainCounts, TrainExtra)
PretrainManifest = Manifest[TrainInputs, TrainCounts, TrainExtra]


# -- midtraining and SFT -------------------------------------------------------------------------
# `mid/` and `sft/` are checkpoints folders like `checkpoints/` (the same trainer writes them);
# each also holds `data/`: its conversation sources rendered into token shards with loss masks.

SFT_DATA = "data"


class SftDataInputs(Record):
    sources: dict[str, str] = runtime_field()  # source name → URI
    # source name → sha256 of its valid conversations (canonical JSON, in read order)
    source_sha256: dict[str, str]
    tokenizer_sha256: str


class SftMixture(Record):
    target: dict[str, float]  # share of training conversations' tokens wanted per source
    realized: dict[str, float]
    repetition: dict[str, float]  # packed / available training tokens per source


class SftDataCounts(Record):
    # split (train|val) → source → value
    conversations: dict[str, dict[str, int]]  # conversations packed (repeated copies counted)
    tokens: dict[str, dict[str, int]]
    learned_tokens: dict[str, dict[str, int]]  # of those, training targets (mask 1)
    skipped: dict[str, dict[str, int]]  # source → reason → rows skipped when reading
    mixture: SftMixture


class SftDataExtra(TokenShardsExtra):
    template: str  # how conversations were rendered (`tritter.chat.template`)


# `folder` is relative to the phase folder (`mid/data`, `sft/data`).
SFT_DATA_MANIFEST = Contract("sft-data", SFT_DATA, SftDataInputs, SftDataCounts, SftDataExtra)
SftDataManifest = Manifest[SftDataInputs, SftDataCounts, SftDataExtra]
MID_MANIFEST = Contract("mid", MID, TrainInputs, TrainCounts, TrainExtra)
SFT_MANIFEST = Contract("sft", SFT, TrainInputs, TrainCounts, TrainExtra)


# -- preference optimisation (DPO) ---------------------------------------------------------------
# `dpo/` is a checkpoints folder like `sft/` (`tritter dpo`); its `data/` holds the preference
# pairs rendered with the chat template and the frozen reference model's log-probabilities:
#     data/<split>/tokens.npy    every sequence back to back: pair i's chosen (2i), rejected (2i+1)
#     data/<split>/offsets.npy   int64 [2·pairs + 1]: where each sequence starts (and the end)
#     data/<split>/mask.npy      uint8, one per token: 1 where the token is a learned target
#     data/<split>/reference.npy float64 [pairs, 2]: Σ log p_ref of the targets (chosen, rejected)

DPO_DATA = "data"


class DpoDataInputs(Record):
    sources: dict[str, str] = runtime_field()  # source name → URI
    source_sha256: dict[str, str]  # source name → sha256 of its valid pairs (canonical JSON)
    tokenizer_sha256: str
    init: str = runtime_field()  # the reference (= initial policy) weights
    init_identity: dict[str, Any]  # `tritter.train.store.identity`


class DpoSplitRecord(Record):
    split: str
    pairs: int
    tokens: str  # relative paths of the four files above
    offsets: str
    mask: str
    reference: str
    num_tokens: int


class DpoDataCounts(Record):
    pairs: dict[str, dict[str, int]]  # split → source → pairs kept
    tokens: dict[str, int]  # split → tokens of both replies' sequences
    learned_tokens: dict[str, int]  # split → of those, targets (the replies)
    skipped: dict[str, dict[str, int]]  # source → reason → pairs skipped (reading, rendering)
    reference_logp: dict[str, dict[str, float]]  # split → chosen|rejected → mean Σ log p_ref
    reference_seconds: float


class DpoDataExtra(Record):
    tokenizer_sha256: str
    vocab_size: int
    dtype: str  # of tokens.npy: uint16 | uint32
    eos_id: int
    pad_id: int
    seq_len: int  # every sequence has at most seq_len + 1 tokens (seq_len inputs)
    template: str  # how pairs were rendered (`tritter.chat.template`)
    reference_precision: str  # fp32 | bf16: the reference pass's compute
    splits: list[DpoSplitRecord]


DPO_DATA_MANIFEST = Contract("dpo-data", DPO_DATA, DpoDataInputs, DpoDataCounts, DpoDataExtra)
DpoDataManifest = Manifest[DpoDataInputs, DpoDataCounts, DpoDataExtra]
DPO_MANIFEST = Contract("dpo", DPO, TrainInputs, TrainCounts, TrainExtra)


# -- reinforcement learning with verifiable rewards (RL) -----------------------------------------
# `rl/` is a checkpoints folder like `dpo/` (`tritter rl`); its `data/` holds the prompt rows that
# passed the checks (valid, fitting --seq-len, not an evaluation problem), one JSON row a line:
#     data/prompts.jsonl     {"prompt": text | [messages], ...the row's other fields}

RL_DATA = "data"
RL_PROMPTS_FILE = "prompts.jsonl"


class RlDataInputs(Record):
    source: str = runtime_field()  # the prompt rows as named (`--prompts`)
    source_sha256: str  # of every row read (canonical JSON, in read order)
    tokenizer_sha256: str


class RlDataCounts(Record):
    rows: int  # rows read
    kept: int  # rows written to prompts.jsonl
    dropped: dict[str, int]  # reason (too_long | contaminated:<benchmark>) → rows


class RlDataExtra(Record):
    tokenizer_sha256: str
    seq_len: int  # every kept prompt leaves at least one token of --seq-len to the completion
    reward: str  # the --reward whose row fields were checked
    required_fields: list[str]  # fields every row carries for that reward
    template: str  # how prompts are rendered (`tritter.chat.template`)
    prompt_tokens: dict[str, float]  # min | mean | max rendered prompt length


RL_DATA_MANIFEST = Contract("rl-data", RL_DATA, RlDataInputs, RlDataCounts, RlDataExtra)
RlDataManifest = Manifest[RlDataInputs, RlDataCounts, RlDataExtra]


class RlCounts(TrainCounts):
    """The trainer's counts plus the rollouts', over the whole run (a resumed run included)."""

    prompts: int = 0  # prompt groups sampled
    completions: int = 0
    completion_tokens: int = 0  # tokens the policy wrote (the loss's units)
    tool_calls: int = 0  # code parts run in the sandbox during generation
    passed: int = 0  # completions whose reward reached --pass-threshold
    # kind (raised | timeout | invalid) → reward calls that scored 0 because of it
    reward_errors: dict[str, int] = Field(default_factory=dict)


RL_MANIFEST = Contract("rl", RL, TrainInputs, RlCounts, TrainExtra)
RlManifest = Manifest[TrainInputs, RlCounts, TrainExtra]
# Stage of the trainer's manifest by `--phase`.
TRAIN_MANIFESTS = {
    "pretrain": PRETRAIN_MANIFEST, "mid": MID_MANIFEST, "sft": SFT_MANIFEST, "dpo": DPO_MANIFEST,
    "rl": RL_MANIFEST,
}  # fmt: skip
# Folders of token shards the loader reads, by the stage that wrote them.
TOKEN_SHARDS = {PACK_MANIFEST.stage: PACK_MANIFEST, SFT_DATA_MANIFEST.stage: SFT_DATA_MANIFEST}


# -- evaluate ------------------------------------------------------------------------------------


class EvaluateInputs(Record):
    checkpoint: str
    checkpoint_identity: dict[str, Any]  # what identifies the weights without loading them
    tokenizer_sha256: str
    data: str | None = None  # the held-out shards (perplexity only)
    data_fingerprint: str | None = None
    # base | chat: how the model was prompted (`tritter.evaluate.prompt_format`)
    prompt_format: str = "base"
    # The identity and persona tasks only: the persona file, its text's sha256 and the
    # identity question set's; the persona task's prompt set (`tritter.evaluate.persona_prompts`).
    persona: str | None = runtime_field(None)
    persona_sha256: str | None = None
    identity_questions_sha256: str | None = None
    persona_prompts_sha256: str | None = None


class EvaluateCounts(Record):
    # code task → {"problems": n, "pass@k": value, ...};
    # identity → {"problems": n, "consistency": …, "names_persona": …, "claims_human": …};
    # persona → {"problems": n, "flattery": …, "benign_refusal": …, …} (each rate of its RATES)
    tasks: dict[str, dict[str, float]]


EVALUATE_MANIFEST = Contract("evaluate", EVAL, EvaluateInputs, EvaluateCounts, Nothing)
EvaluateManifest = Manifest[EvaluateInputs, EvaluateCounts, Nothing]


# -- report --------------------------------------------------------------------------------------


class ReportInputs(Record):
    run: str
    manifests: dict[str, str]  # folder → fingerprint of the manifest the report read
    metrics_records: int


class ReportCounts(Record):
    sections: int
    plots: int
    warnings: int


REPORT_MANIFEST = Contract("report", REPORT, ReportInputs, ReportCounts, Nothing)
ReportManifest = Manifest[ReportInputs, ReportCounts, Nothing]


# -- synth identity ------------------------------------------------------------------------------

IDENTITY_CONVERSATIONS = "conversations.jsonl"  # one conversation row per line (tritter.chat)


class SynthIdentityInputs(Record):
    persona: str = runtime_field()  # the persona file read ("default": the packaged one)
    persona_sha256: str  # of the persona file's text: what the output depends on
    templates_sha256: str  # of the question/answer bank (`tritter.synth.identity`)


class SynthIdentityCounts(Record):
    requested: int  # --count
    conversations: int  # written (fewer than requested only when the templates ran out)
    duplicates_skipped: int  # drawn conversations identical to one already written
    messages: int
    with_system: int  # conversations opening with a system turn
    multi_turn: int  # conversations with more than one user turn
    topics: dict[str, int]  # identity topic → user turns asking about it
    distinct_questions: int
    distinct_answers: int


class SynthIdentityExtra(Record):
    persona_name: str
    source: str  # the `source` field of every row
    license: str  # the `license` field of every row (SPDX id, lower case)


SYNTH_IDENTITY_MANIFEST = Contract(
    "synth-identity", SYNTH_IDENTITY, SynthIdentityInputs, SynthIdentityCounts, SynthIdentityExtra
)
SynthIdentityManifest = Manifest[SynthIdentityInputs, SynthIdentityCounts, SynthIdentityExtra]


# -- synth docstrings ----------------------------------------------------------------------------
# The embedded instruction set: questions about the running Python's standard library answered
# from its docstrings (`tritter synth docstrings`), written as IDENTITY_CONVERSATIONS' format.


class SynthDocstringsInputs(Record):
    python_version: str  # the docstrings are this interpreter's (sys.version)
    api_sha256: str  # of the documented names, signatures and summaries the answers come from


class SynthDocstringsCounts(Record):
    requested: int
    conversations: int
    documented: int  # documented public callables found (the pool conversations are drawn from)
    modules: dict[str, int]  # module → conversations about it


class SynthDocstringsExtra(Record):
    source: str
    license: str


SYNTH_DOCSTRINGS_MANIFEST = Contract(
    "synth-docstrings",
    SYNTH_DOCSTRINGS,
    SynthDocstringsInputs,
    SynthDocstringsCounts,
    SynthDocstringsExtra,
)
SynthDocstringsManifest = Manifest[
    SynthDocstringsInputs, SynthDocstringsCounts, SynthDocstringsExtra
]


# -- constitutional data (synth generate → critique → revise → filter) ---------------------------
# Few-shot completions of a base model: each step reads the previous step's folder. Rows are
# counted under the reason they were dropped for (`dropped`), never silently lost.

CRITIQUES_FILE = "critiques.jsonl"  # {id, prompt, response, principle, critique, source, license}
PAIRS_FILE = "pairs.jsonl"  # {id, prompt, chosen, rejected, principle, critique, source, license}


class SynthModelInputs(Record):
    """The base model that wrote the completions (a Tritter checkpoint or a transformers dir)."""

    model: str = runtime_field()
    model_identity: dict[str, Any]  # `tritter.train.store.identity`: without loading the weights
    tokenizer: str | None = runtime_field(None)  # Tritter checkpoints: the SentencePiece folder
    tokenizer_sha256: str | None = None


class SynthGenerateInputs(SynthModelInputs):
    seeds: str = runtime_field()  # the seed conversations ("default": the packaged set)
    seeds_sha256: str  # of the valid seed conversations (canonical JSON)
    prompts: str | None = runtime_field(None)  # the target user turns (None: the seeds')
    prompts_sha256: str | None = None


class SynthCritiqueInputs(SynthModelInputs):
    generated: str = runtime_field()
    generated_fingerprint: str
    constitution: str = runtime_field()  # "default": the packaged constitution
    constitution_sha256: str


class SynthReviseInputs(SynthModelInputs):
    critiques: str = runtime_field()
    critiques_fingerprint: str
    constitution: str = runtime_field()
    constitution_sha256: str


class SynthStepCounts(Record):
    rows_in: int  # prompts (generate) or input rows (critique, revise)
    rows_out: int  # conversations, critiques or pairs written
    dropped: dict[str, int]  # reason → rows; rows_in = rows_out + sum(dropped)
    principles: dict[str, int]  # principle id → rows written (critique, revise)
    units: int
    new_tokens: int
    seconds: float  # generation time summed over units


class SynthModelExtra(Record):
    model_kind: str  # tritter | huggingface
    chat_template_ignored: bool  # the tokenizer has a chat_template; prompts were built without
    source: str  # the `source` field of every row
    license: str  # the `license` field of every row


SYNTH_GENERATE_MANIFEST = Contract(
    "synth-generate", SYNTH_GENERATED, SynthGenerateInputs, SynthStepCounts, SynthModelExtra
)
SynthGenerateManifest = Manifest[SynthGenerateInputs, SynthStepCounts, SynthModelExtra]
SYNTH_CRITIQUE_MANIFEST = Contract(
    "synth-critique", SYNTH_CRITIQUES, SynthCritiqueInputs, SynthStepCounts, SynthModelExtra
)
SynthCritiqueManifest = Manifest[SynthCritiqueInputs, SynthStepCounts, SynthModelExtra]
SYNTH_REVISE_MANIFEST = Contract(
    "synth-revise", SYNTH_PAIRS, SynthReviseInputs, SynthStepCounts, SynthModelExtra
)
SynthReviseManifest = Manifest[SynthReviseInputs, SynthStepCounts, SynthModelExtra]


class SynthFilterInputs(Record):
    pairs: str = runtime_field()
    pairs_fingerprint: str
    classifier: str | None = runtime_field(None)  # `--classifier DIR`
    classifier_identity: dict[str, Any] | None = None
    rules_sha256: str  # of the rule filter's pattern table (`tritter.synth.safety`)


class SynthFilterCounts(Record):
    rows_in: int
    rows_out: int
    dropped: dict[str, int]  # unsafe:<category> | exact_duplicate | near_duplicate |
    # contaminated:<benchmark>; rows_in = rows_out + sum(dropped)
    flagged: dict[str, int]  # detector:category → rows it flagged (before the first reason won)
    units: int


class SynthFilterExtra(Record):
    categories: list[str]  # the safety categories the rule filter knows
    classifier_labels: list[str] | None  # the classifier's labels (None: no classifier)
    near_threshold: float
    decontamination_ngram: int


SYNTH_FILTER_MANIFEST = Contract(
    "synth-filter", SYNTH_FILTERED, SynthFilterInputs, SynthFilterCounts, SynthFilterExtra
)
SynthFilterManifest = Manifest[SynthFilterInputs, SynthFilterCounts, SynthFilterExtra]


# Every stage, in pipeline order.
STAGES: tuple[Contract, ...] = (
    CURATE_MANIFEST,
    TOKENIZER_MANIFEST,
    PACK_MANIFEST,
    PRETRAIN_MANIFEST,
    SYNTH_IDENTITY_MANIFEST,
    SYNTH_DOCSTRINGS_MANIFEST,
    SYNTH_GENERATE_MANIFEST,
    SYNTH_CRITIQUE_MANIFEST,
    SYNTH_REVISE_MANIFEST,
    SYNTH_FILTER_MANIFEST,
    MID_MANIFEST,
    SFT_MANIFEST,
    DPO_MANIFEST,
    RL_MANIFEST,
    EVALUATE_MANIFEST,
    REPORT_MANIFEST,
)
# The folders a report looks at: the pretraining stages' (and the reserved ones), then
# post-training's.
REPORTED_FOLDERS = (RAW, FILTERED, CURATED, TOKENIZER, TOKENS, CHECKPOINTS, EVAL)
POST_TRAINING_FOLDERS = (
    SYNTH_IDENTITY, SYNTH_DOCSTRINGS, SYNTH_GENERATED, SYNTH_CRITIQUES, SYNTH_PAIRS,
    SYNTH_FILTERED, MID, SFT, SFT_EVAL, DPO, DPO_EVAL, RL, RL_EVAL,
)  # fmt: skip
