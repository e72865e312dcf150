"""`CurateConfig`: every option of the curation stage, with its description and bounds.

The same model feeds `tritter curate --help` (via `tritter.config.add_arguments`), YAML config
files, the KFP pipeline parameters and the Helm values schema. It never holds credentials: S3
and Hugging Face access come from the environment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tritter.config import Config, runtime_field
from tritter.curate import languages, licenses


class CurateConfig(Config):
    input: str = Field(
        description="source: a directory or s3:// prefix of source files, JSONL/Parquet "
        "documents (file, directory or prefix), hf://DATASET[:CONFIG][:SPLIT], or "
        "'python-stdlib' (the running interpreter's standard library)",
    )
    # output, workers and keep_work are runtime fields (left out of the stage fingerprint): where
    # the output goes, how many workers make it and whether _work/ is kept change nothing in
    # it, so a finished output relaunched with more workers, or moved, is still done.
    output: str = runtime_field(description="output folder: local path, file:// or s3:// URI")
    format: Literal["parquet", "jsonl"] = Field(
        "parquet",
        description="shard format: parquet (tritter.schema.CURATED_SCHEMA) or jsonl (one object "
        "per line: text, language, quality_score, source, license, stars, and quality_label "
        "and explanation for negatives)",
    )
    input_format: Literal["auto", "files", "jsonl", "parquet"] = Field(
        "auto",
        description="how to read --input: auto (a .jsonl/.parquet file, or a folder holding "
        "only such files, is a document set; anything else is a source tree), files, jsonl, "
        "parquet",
    )
    text_field: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="record field holding the document text (default: text, else content, "
        "else code)",
    )
    languages: list[str] = Field(
        default_factory=list,
        description="keep only these languages (default: all of "
        + ",".join(sorted(languages.LANGUAGES))
        + ")",
    )
    subset: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9_][a-z0-9_.-]*$",
        description="mixture component for every kept document (e.g. curated_repos); default: "
        "python, rust, docs for Markdown/reST, else the language name",
    )
    min_quality: float = Field(
        0.5, ge=0.0, le=1.0, description="quality score at or above which a document is positive"
    )
    positive_only: bool = Field(
        False, description="drop negative documents instead of keeping them"
    )
    min_stars: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="drop documents whose repository's stars are known and below this "
        "(reason min_stars; stars come from a record's stars, max_stars_count or "
        "star_events_count field; unknown stars are never dropped); 0: off",
    )
    homework: bool = Field(
        True,
        description="drop student homework (reason homework: assignment headers, hw3/lab5 "
        "paths, one-file repositories; two signals, or a strong one, see "
        "tritter/curate/homework.py)",
    )
    assume_license: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="SPDX license (or expression) for documents with no header, LICENSE file or "
        "package metadata",
    )
    allow_license: list[str] = Field(
        default_factory=list,
        description="SPDX ids accepted on top of the permissive allowlist "
        f"({','.join(licenses.PERMISSIVE)}), e.g. psf-2.0,0bsd",
    )
    allow_unknown_license: bool = Field(
        False, description="keep documents whose license cannot be determined"
    )
    max_bytes: int = Field(
        500_000, ge=1_000, le=100_000_000, description="drop files larger than this (bytes)"
    )
    min_lines: int = Field(5, ge=0, le=1_000_000, description="drop documents with fewer lines")
    max_lines: int = Field(
        10_000, ge=1, le=10_000_000, description="drop documents with more lines"
    )
    min_alnum_fraction: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="drop documents whose alphanumeric fraction is at or below this",
    )
    long_line_chars: int = Field(
        500, ge=10, le=1_000_000, description="a line longer than this (bytes) is a long line"
    )
    max_long_line_fraction: float = Field(
        0.10,
        gt=0.0,
        le=1.0,
        description="drop documents with at least this fraction of long lines",
    )
    pii: Literal["keep", "redact", "drop"] = Field(
        "redact",
        description="personal data (email and IP addresses, phone numbers, names on author and "
        "copyright lines): redact (replace by <EMAIL>, <IP_ADDRESS>, <PHONE>, <NAME>), keep "
        "(count only) or drop the document",
    )
    pii_allowlist: list[str] = Field(
        default_factory=list,
        description="values kept on top of the built-in allowlist (noreply@, example.com, "
        "documentation IPs, ...): a mailbox (bot@), a domain (corp.example), an address, an "
        "IP or network (10.1.0.0/16), or a literal (a name)",
    )
    decontaminate: bool = Field(
        True, description="drop documents containing HumanEval or MBPP prompts/solutions"
    )
    decontam_ngram: int = Field(
        10, ge=4, le=50, description="word n-gram size for benchmark matching"
    )
    decontam_overlap: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="fraction of a benchmark snippet's n-grams a document must contain to be "
        "dropped (1.0: the whole snippet)",
    )
    dedup: bool = Field(True, description="run exact and near-duplicate removal")
    dedup_threshold: float = Field(
        0.8,
        ge=0.3,
        le=1.0,
        description="Jaccard similarity (of word 5-gram sets) at which documents are "
        "near-duplicates",
    )
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    bands: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="LSH bands (rows = num_perm // bands); default: chosen for the threshold",
    )
    shingle_size: int = Field(5, ge=1, le=32, description="words per MinHash shingle")
    band_groups: int = Field(
        4,
        ge=1,
        le=256,
        description="groups of LSH band keys in each shard's dedup.npz (work file layout)",
    )
    dedup_partitions: int | None = runtime_field(
        None,
        ge=1,
        le=1_000_000,
        description="hash partitions of the dedup steps (memory per worker scales with "
        "documents / partitions); default: one per 16 work units",
    )
    dedup_max_rounds: int = runtime_field(
        64,
        ge=1,
        le=10_000,
        description="at most this many connected-components rounds (large-star + small-star) "
        "before near-dedup stops with an error",
    )
    minhash_seed: int = Field(1, ge=0, le=2**31, description="seed of the MinHash permutations")
    semantic_dedup: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="semantic dedup after exact and near dedup (default: off): a Hugging Face "
        "encoder (folder or s3:// prefix written by save_pretrained, or hf://ORG/NAME) whose "
        "mean-pooled embeddings are k-means clustered; within a cluster, documents with cosine "
        "above --semantic-threshold are duplicates",
    )
    semantic_threshold: float = Field(
        0.95,
        gt=0.0,
        lt=1.0,
        description="cosine similarity above which two documents are semantic duplicates",
    )
    semantic_clusters: int | None = Field(
        None,
        ge=1,
        le=50_000,
        description="k-means clusters of semantic dedup (pairs are compared within a cluster); "
        "default: one per 1,000 embedded documents",
    )
    semantic_max_tokens: int = Field(
        512,
        ge=8,
        le=1_000_000,
        description="tokens of each document the encoder sees (at most its own maximum)",
    )
    semantic_batch_size: int = runtime_field(
        32, ge=1, le=65_536, description="documents per encoder batch"
    )
    shard_mb: float = Field(
        4.0,
        gt=0.0,
        le=65536.0,
        description="input megabytes of source text per work unit (one output shard each)",
    )
    shard_files: int = Field(
        5000, ge=1, le=10_000_000, description="at most this many input files per work unit"
    )
    workers: int | None = runtime_field(
        None, ge=1, le=1024, description="local worker processes (default: CPU count)"
    )
    keep_work: bool = runtime_field(
        False,
        description="keep the intermediate _work/ folder after the manifest is written",
    )

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        normalized = []
        for name in value:
            language = languages.normalize_language(name)
            if language is None:
                raise ValueError(
                    f"unknown language '{name}' (known: {','.join(sorted(languages.LANGUAGES))})"
                )
            normalized.append(language)
        return sorted(set(normalized))

    @field_validator("allow_license")
    @classmethod
    def _lower_ids(cls, value: list[str]) -> list[str]:
        return sorted({licenses.normalize_id(v) for v in value if v.strip()})

    @field_validator("pii_allowlist")
    @classmethod
    def _allowlist_entries(cls, value: list[str]) -> list[str]:
        return sorted({entry.strip().lower() for entry in value if entry.strip()})

    @field_validator("bands")
    @classmethod
    def _bands_fit(cls, value: int | None, info) -> int | None:  # noqa: ANN001
        num_perm = info.data.get("num_perm")
        if value is not None and num_perm is not None and value > num_perm:
            raise ValueError(f"bands ({value}) cannot exceed num_perm ({num_perm})")
        return value

    @field_validator("semantic_dedup")
    @classmethod
    def _semantic_after_dedup(cls, value: str | None, info) -> str | None:  # noqa: ANN001
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("names no encoder")
        if info.data.get("dedup") is False:
            raise ValueError("needs dedup: it runs on the survivors of exact and near dedup")
        if value.startswith("hf://") and not value[len("hf://") :].strip("/"):
            raise ValueError(f"'{value}' names no model (expected hf://ORG/NAME)")
        return value

    @field_validator("max_lines")
    @classmethod
    def _lines_order(cls, value: int, info) -> int:  # noqa: ANN001
        minimum = info.data.get("min_lines")
        if minimum is not None and value < minimum:
            raise ValueError(f"max_lines ({value}) is below min_lines ({minimum})")
        return value

    @field_validator("output")
    @classmethod
    def _output_differs_from_input(cls, value: str, info) -> str:  # noqa: ANN001
        source = info.data.get("input")
        if source is not None and source.rstrip("/") == value.rstrip("/"):
            raise ValueError("output must differ from input")
        return value

    def band_layout(self) -> tuple[int, int]:
        """(bands, rows per band)."""
        from tritter.curate.minhash import choose_bands

        if self.bands is not None:
            return self.bands, self.num_perm // self.bands
        return choose_bands(self.dedup_threshold, self.num_perm)
