"""Step 2, process-shard: one work unit's documents through every check, then hashed for dedup.

Each document goes through `rules.DOCUMENT_RULES` (ingest decisions, decoding, content filters,
license, secrets, personal data — redacted here, so everything after, dedup hashes included, sees
the placeholders — security and quality labels); the survivors are hashed a batch at a time
(word hashes), screened by `rules.BATCH_RULES` (benchmark decontamination, `--positive-only`),
and what is left gets its exact-content hash, MinHash signature, LSH band keys and distinct
shingle set. The step writes, under `_work/shards/NNNNN/`:

    docs.parquet     the surviving rows (the curated columns plus `flaws`)
    signatures.npy   MinHash signatures, one row per surviving document
    shingles.npy     distinct shingle hashes of every document, back to back
    dedup.npz        per-document dedup attributes, the shingle offsets, band keys per group
    rejects.jsonl    path, reason and detail of every dropped document (credentials and, unless
                     `--pii keep`, email and IP addresses in the path redacted)
    stats.json       its completion marker (`ShardStats`), written last
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from tritter import log, storage
from tritter.curate import (
    decontam,
    dedup,
    languages,
    licenses,
    minhash,
    pii,
    repos,
    rules,
    secrets,
    sources,
)
from tritter.curate.config import CurateConfig
from tritter.curate.metrics import StepMetrics
from tritter.curate.output import WORK_SCHEMA, ParquetSink, write_jsonl
from tritter.curate.plan import Run, load_run
from tritter.curate.work import (
    Marker,
    Skipped,
    all_markers,
    concat,
    npy_bytes,
    read_json,
    read_marker,
    write_marker,
)
from tritter.errors import TritterError
from tritter.run_folder import PiiCounts, RepoSignalCounts

_BATCH_BYTES = 2_000_000  # documents hashed together (numpy arrays of ~8x this size)
_WHITESPACE = b" \t\r\n\f\v"
_log = log.get_logger("curate")


class ShardStats(Marker):
    """`_work/shards/NNNNN/stats.json`: what process-shard did with its work unit."""

    index: int
    passed: int  # documents that went on to dedup
    dropped: dict[str, int]  # reason → documents
    flaws: dict[str, int]  # security flaw → documents passed with it
    input_documents: int
    input_bytes: int  # listed size of every input document
    read_bytes: int  # of the documents actually read
    seconds: float
    pii_values: dict[str, int] = Field(default_factory=dict)  # kind → values found (`pii.KINDS`)
    pii_documents: dict[str, int] = Field(default_factory=dict)  # kind → documents holding one
    repo_signals: dict[str, int] = Field(default_factory=dict)  # `RepoSignalCounts` field → docs


def warm_up(config: CurateConfig) -> None:
    """Load what every process-shard call needs once, before a process pool forks, so the
    workers inherit it: pyarrow's lazy pandas shim (~0.3 s on the first array), the benchmark
    n-gram index (~0.3 s), the secret rules (~0.1 s) and the MinHash permutations."""
    import pyarrow as pa

    pa.array([0])
    secrets.rule_set()
    pii.allowlist(tuple(config.pii_allowlist))
    if config.decontaminate:
        decontam.benchmark_index(config.decontam_ngram)
    _permutations(config.num_perm, config.minhash_seed)


@functools.cache
def _permutations(num_perm: int, seed: int) -> minhash.Permutations:
    return minhash.Permutations.create(num_perm, seed)


def processed_shards(run: Run) -> list[ShardStats]:
    """Every shard's marker; a one-line error naming the first shard not processed yet."""
    uris = [run.work.shard(index, "stats.json") for index in range(run.shards)]
    return all_markers(run.output, run.fingerprint, uris, ShardStats,
                       "shard {} has not been processed yet")  # fmt: skip


def pii_totals(processed: list[ShardStats]) -> PiiCounts:
    """The manifest's `pii` counts: every shard's personal data found, per kind."""
    values: Counter[str] = Counter()
    documents: Counter[str] = Counter()
    for stats in processed:
        values.update(stats.pii_values)
        documents.update(stats.pii_documents)
    return PiiCounts(values=dict(sorted(values.items())), documents=dict(sorted(documents.items())))


def repo_signal_totals(processed: list[ShardStats]) -> RepoSignalCounts:
    """The manifest's `repo_signals`: documents scored with each repository-level signal."""
    total: Counter[str] = Counter()
    for stats in processed:
        total.update(stats.repo_signals)
    return RepoSignalCounts(**total)


class _ShardWork:
    """Collects one shard's outputs in a local temp folder."""

    def __init__(self, run: Run, folder: Path) -> None:
        self.run = run
        self.sink = ParquetSink(folder / "docs.parquet", WORK_SCHEMA)
        self.signatures: list[np.ndarray] = []
        self.shingles: list[np.ndarray] = []  # distinct shingle hashes per document, for
        self.shingle_counts: list[np.ndarray] = []  # exact-Jaccard verification
        self.arrays: dict[str, list[np.ndarray]] = {
            k: [] for k in ("exact", "lic_rank", "quality", "stars", "idhash", "bands")
        }
        self.ids: list[str] = []
        self.rejects: list[dict[str, str]] = []
        self.counts: Counter[str] = Counter()
        self.negatives: Counter[str] = Counter()
        self.pii_values: Counter[str] = Counter()
        self.pii_documents: Counter[str] = Counter()
        self.repo_signals: Counter[str] = Counter()
        config = run.config
        self.allow = None if config.pii == "keep" else pii.allowlist(tuple(config.pii_allowlist))

    def count_pii(self, found: dict[str, int]) -> None:
        self.pii_values.update(found)
        self.pii_documents.update(found.keys())

    def field(self, value: str) -> str:
        """A metadata field as written out: email and IP addresses replaced (unless --pii
        keep)."""
        return value if self.allow is None else pii.redact_field(value, self.allow)

    def reject(self, path: str, drop: rules.Drop) -> None:
        """Record a drop. A credential in the path (or detail) is replaced by
        `<SECRET:detector>`, an email or IP address by its placeholder: the reject list is an
        output, and a path is document metadata."""
        self.counts[drop.reason] += 1
        if drop.pii:
            self.count_pii(dict(drop.pii))
        record = {"path": self.field(secrets.redact(path)), "reason": drop.reason}
        if drop.detail:
            record["detail"] = secrets.redact(drop.detail)
        self.rejects.append(record)


def process_shard(output: str, index: int) -> ShardStats | Skipped:
    """Work unit `index`: every document through the rules (ingest → decode → content filters →
    license → secrets → security and quality labels, then per batch decontamination and
    `--positive-only`), the survivors hashed (exact hash, MinHash signature, band keys)."""
    run = load_run(output)
    if run is None:
        return Skipped()
    run.check_index(index, run.shards, "shard")
    marker_uri = run.work.shard(index, "stats.json")
    done = read_marker(marker_uri, run.fingerprint, ShardStats)
    if done is not None:
        return done
    started = time.monotonic()
    step_metrics = StepMetrics("curate_process", run.output)
    unit = read_json(run.work.unit(index))
    if unit is None:
        raise TritterError(f"{run.work.unit(index)}: missing work unit")
    context = rules.Context(run.config, run.limits, run.policy, _license_lookup(run),
                            repos.RepoTable.from_unit(unit))  # fmt: skip
    input_docs = input_bytes = read_bytes = 0
    with tempfile.TemporaryDirectory(prefix="tritter-curate-") as tmp:
        work = _ShardWork(run, Path(tmp))
        batch: list[rules.Doc] = []
        batch_bytes = 0
        for raw in sources.read_unit(run.source, unit, run.config):
            input_docs += 1
            input_bytes += raw.size
            if raw.reason is None:
                read_bytes += raw.size
            result = rules.inspect(raw, context)
            if isinstance(result, rules.Drop):
                work.reject(raw.path, result)
                continue
            if result.pii:
                work.count_pii(result.pii)
            work.repo_signals.update(result.repo_signals)
            batch.append(result)
            batch_bytes += len(result.data)
            if batch_bytes >= _BATCH_BYTES:
                _flush(work, batch, context)
                batch, batch_bytes = [], 0
        _flush(work, batch, context)
        work.sink.close()
        _publish_shard(work, index, Path(tmp))
    stats = ShardStats(
        fingerprint=run.fingerprint,
        index=index,
        passed=work.sink.rows,
        dropped=dict(sorted(work.counts.items())),
        flaws=dict(sorted(work.negatives.items())),
        input_documents=input_docs,
        input_bytes=input_bytes,
        read_bytes=read_bytes,
        seconds=round(time.monotonic() - started, 3),
        pii_values=dict(sorted(work.pii_values.items())),
        pii_documents=dict(sorted(work.pii_documents.items())),
        repo_signals=dict(sorted(work.repo_signals.items())),
    )
    if input_docs != stats.passed + sum(stats.dropped.values()):
        raise TritterError(
            f"{output}: shard {index} lost documents: {input_docs} read != {stats.passed} passed + "
            f"{sum(stats.dropped.values())} dropped"
        )
    write_marker(marker_uri, stats)
    step_metrics.count("dropped", stats.dropped)
    step_metrics.count("passed", {"": stats.passed})
    step_metrics.count_pii(stats.pii_values, stats.pii_documents)
    step_metrics.add_bytes("input", input_bytes)
    step_metrics.done(index)
    log.event(_log, "processed shard", shard=index, documents=input_docs, passed=stats.passed,
              seconds=stats.seconds)  # fmt: skip
    return stats


def _license_lookup(run: Run) -> Callable[[sources.RawDoc, str], str]:
    """How a document's license is found: a source tree's LICENSE files and package metadata,
    or a document set's record fields; then the declared license."""
    if run.source.kind == "files":
        data = read_json(run.work.licenses) or {}
        resolver = licenses.TreeResolver(
            license_files=data.get("license_files", []),
            metadata_files=data.get("metadata_files", []),
            dist_owner=data.get("dist_owner", {}),
            read=functools.partial(sources.read_tree_text, run.source),
            policy=run.policy,
            declared=run.config.assume_license or run.source.declared_license,
        )
        return functools.partial(_tree_license, resolver)
    return functools.partial(_record_license, run)


def _tree_license(resolver: licenses.TreeResolver, raw: sources.RawDoc, text: str) -> str:
    return resolver.resolve(raw.path, text)[0]


def _record_license(run: Run, raw: sources.RawDoc, text: str) -> str:
    allowed = run.policy.allowed
    found = licenses.from_header(text, allowed)
    if found is None and raw.record is not None:
        found = licenses.from_record_fields(raw.record, allowed)
    if found is None:
        declared = run.config.assume_license or run.source.declared_license
        found = licenses.choose(declared, allowed) if declared else licenses.UNKNOWN
    return found


def _flush(work: _ShardWork, batch: list[rules.Doc], context: rules.Context) -> None:
    """Batch hashing: word hashes → batch rules → signatures → band keys → rows."""
    if not batch:
        return
    run = work.run
    config = run.config
    words = minhash.word_hashes([doc.data for doc in batch])
    dropped = rules.screen(rules.Batch(batch, words, context))
    for i, drop in dropped.items():
        work.reject(batch[i].raw.path, drop)
    keep = np.ones(len(batch), dtype=bool)
    keep[list(dropped)] = False
    survivors = [doc for doc, kept in zip(batch, keep.tolist(), strict=True) if kept]
    if not survivors:
        return
    if config.dedup:
        shingles = minhash.ngram_hashes(words, config.shingle_size)
        sigs = minhash.signatures(shingles, _permutations(config.num_perm, config.minhash_seed))
        sigs = sigs[keep]
        work.signatures.append(sigs)
        work.arrays["bands"].append(minhash.band_keys(sigs, run.bands, run.rows))
        values, offsets = minhash.shingle_sets(shingles, keep)
        work.shingles.append(values)
        work.shingle_counts.append(np.diff(offsets))
    rows = [_row(doc, config, work.field) for doc in survivors]
    exact = [
        int.from_bytes(
            hashlib.blake2b(doc.data.translate(None, _WHITESPACE), digest_size=8).digest(),
            "little",
        )
        for doc in survivors
    ]
    work.arrays["exact"].append(np.array(exact, dtype=np.uint64))
    work.arrays["lic_rank"].append(
        np.array([context.policy.rank(doc.license) for doc in survivors], dtype=np.uint8)
    )
    work.arrays["quality"].append(np.array([row["quality_score"] for row in rows]))
    work.arrays["stars"].append(
        np.array([-1 if row["stars"] is None else row["stars"] for row in rows], dtype=np.int64)
    )
    work.arrays["idhash"].append(np.array([_tie_break(row) for row in rows], np.uint64))
    work.ids.extend(row["id"] for row in rows)
    columns = {name: [row[name] for row in rows] for name in WORK_SCHEMA.names}
    columns["text"] = [doc.data for doc in survivors]  # the UTF-8 bytes: much faster to convert
    work.sink.write(columns)
    for doc in survivors:
        for flaw in doc.flaws:
            work.negatives[flaw.name] += 1


def _row(doc: rules.Doc, config: CurateConfig, field: Callable[[str], str]) -> dict[str, Any]:
    """A surviving document as a row of the work table (`output.WORK_SCHEMA`); `field` writes
    its path and repository (personal data redacted). The id hashes the path as read."""
    raw = doc.raw
    negative = doc.negative
    return {
        "id": hashlib.sha256(f"{raw.source}\0{raw.path}".encode()).hexdigest(),
        "text": doc.text,
        "language": doc.language,
        "subset": config.subset or languages.default_subset(doc.language),
        "quality_score": round(float(doc.score), 4),
        "quality_label": "positive" if negative is None else "negative",
        "explanation": None if negative is None else negative.explanation,
        "source": raw.source,
        "license": doc.license,
        "stars": raw.stars,
        "sha256": hashlib.sha256(doc.data).hexdigest(),
        "repo": raw.repo if raw.repo is None else field(raw.repo),
        "path": field(raw.path),
        "bytes": len(doc.data),
        "flaws": None if negative is None else ",".join(negative.flaws),
    }


def _tie_break(row: dict[str, Any]) -> int:
    """The last dedup preference key: a hash of the document's path and content, so the same
    corpus makes the same choices wherever it is stored (the id also hashes the source URI)."""
    digest = hashlib.blake2b(f"{row['path']}\0{row['sha256']}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def _publish_shard(work: _ShardWork, index: int, tmp: Path) -> None:
    """Upload the shard's files (each whole); the marker is written after them."""
    run = work.run
    arrays = {
        "exact": concat(work.arrays["exact"], np.uint64),
        "lic_rank": concat(work.arrays["lic_rank"], np.uint8),
        "quality": concat(work.arrays["quality"], np.float64),
        "stars": concat(work.arrays["stars"], np.int64),
        "idhash": concat(work.arrays["idhash"], np.uint64),
        "ids": np.array(work.ids, dtype="S64"),
        "shingle_offsets": np.concatenate(
            ([0], np.cumsum(concat(work.shingle_counts, np.int64)))
        ).astype(np.int64),
    }
    bands = concat(work.arrays["bands"], np.uint64, (run.bands,))
    for group, (lo, hi) in enumerate(dedup.group_bands(run.bands, run.band_groups)):
        arrays[f"bands_{group}"] = np.ascontiguousarray(bands[:, lo:hi])
    np.savez(tmp / "dedup.npz", **arrays)
    signatures = concat(work.signatures, np.uint32, (run.config.num_perm,))
    storage.upload_file(tmp / "docs.parquet", run.work.shard(index, "docs.parquet"))
    storage.write_bytes(run.work.shard(index, "signatures.npy"), npy_bytes(signatures))
    shingles = concat(work.shingles, np.uint32)
    storage.write_bytes(run.work.shard(index, "shingles.npy"), npy_bytes(shingles))
    storage.upload_file(tmp / "dedup.npz", run.work.shard(index, "dedup.npz"))
    write_jsonl(tmp / "rejects.jsonl", work.rejects)
    storage.upload_file(tmp / "rejects.jsonl", run.work.shard(index, "rejects.jsonl"))
