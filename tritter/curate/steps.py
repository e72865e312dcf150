"""The five curation steps. Each takes plain arguments (URIs and ints), is idempotent, and
publishes whole files, so it can run in a local process pool or as a Kubeflow pod.

Run folder layout (`<output>` is `--output`):

    _work/plan.json                 fingerprint, resolved config, source, shard/group counts
    _work/units/00003.json          the input items of work unit 3
    _work/licenses.json             LICENSE/metadata files of the tree (license lookup)
    _work/shards/00003/             process-shard 3: docs.parquet, signatures.npy, dedup.npz,
                                    rejects.jsonl, then stats.json (its completion marker)
    _work/dedup/group-001.npz|json  dedup-index 1: exact/near edges, then its marker
    _work/apply/00003.json          apply-shard 3's marker (counts, file sizes and hashes)
    part-00003.parquet|jsonl        the curated documents of unit 3
    rejects/part-00003.jsonl        one line per dropped document: path, reason, detail
    _manifest.json                  written last by finalize

A step whose marker exists with the run's fingerprint is skipped. A changed config or input
makes a new fingerprint: `plan` then removes the old manifest first (so the folder reads as
incomplete), then the old shards and `_work/`, and starts over. After the manifest, `finalize`
removes `_work/` (it holds a second copy of every kept document) unless `--keep-work`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tritter import config as config_lib
from tritter import log, manifest, storage
from tritter.curate import (
    dedup,
    filters,
    languages,
    licenses,
    minhash,
    output,
    quality,
    secrets,
    security,
    sources,
)
from tritter.curate.config import RUNTIME_FIELDS, CurateConfig
from tritter.curate.metrics import StepMetrics
from tritter.errors import TritterError

STAGE = "curate"
WORK = "_work"
_BATCH_BYTES = 2_000_000  # documents hashed together (numpy arrays of ~8x this size)
_log = log.get_logger("curate")

# The order in which drop reasons are checked (and listed in the manifest).
REASONS = (
    "unreadable",
    "vendored",
    "config",
    "boilerplate",
    "not_source",
    "language_excluded",
    "too_large",
    "corrupt_record",
    "binary",
    "undecodable",
    "empty",
    "generated",
    "minified",
    "too_few_lines",
    "too_many_lines",
    "low_alnum",
    "long_lines",
    "license_copyleft",
    "license_other",
    "license_unknown",
    "secret",
    "contamination",
    "negative",
    "exact_duplicate",
    "near_duplicate",
)


# --------------------------------------------------------------------------------------------
# Run context


def work_uri(out: str, *parts: str) -> str:
    return storage.join(out, WORK, *parts)


def _read_json(uri: str) -> Any | None:
    try:
        return json.loads(storage.read_text(uri))
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise TritterError(f"{uri}: corrupt work file ({err})") from err


def _write_json(uri: str, data: Any) -> None:
    storage.write_text(uri, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


@dataclass
class Run:
    output: str
    fingerprint: str
    config: CurateConfig
    source: sources.Source
    shards: int
    band_groups: int
    bands: int
    rows: int
    policy: licenses.Policy
    plan: dict[str, Any]

    @functools.cached_property
    def limits(self) -> filters.Thresholds:
        """The content filters' thresholds (built once per run, not once per document)."""
        config = self.config
        return filters.Thresholds(
            max_bytes=config.max_bytes,
            min_lines=config.min_lines,
            max_lines=config.max_lines,
            min_alnum_fraction=config.min_alnum_fraction,
            long_line_chars=config.long_line_chars,
            max_long_line_fraction=config.max_long_line_fraction,
        )

    def marker_done(self, uri: str) -> dict[str, Any] | None:
        data = _read_json(uri)
        if data is not None and data.get("fingerprint") == self.fingerprint:
            return data
        return None


def policy_for(config: CurateConfig, source: sources.Source) -> licenses.Policy:
    allowed = set(licenses.PERMISSIVE) | set(config.allow_license)
    if source.declared_license:
        allowed.add(source.declared_license)
    return licenses.Policy(frozenset(allowed), config.allow_unknown_license)


def load_run(out: str) -> Run | None:
    """The run planned in `out`, or None when the output is already complete (and `_work/` is
    gone). A one-line error when there is neither a plan nor a finished output."""
    plan = _read_json(work_uri(out, "plan.json"))
    if plan is None:
        if manifest.read_manifest(out) is not None:
            return None
        raise TritterError(f"{out}: no curation plan ({WORK}/plan.json); run the plan step first")
    config = CurateConfig.model_validate(plan["config"])
    source = sources.Source.from_json(plan["source"])
    return Run(
        output=out,
        fingerprint=plan["fingerprint"],
        config=config,
        source=source,
        shards=plan["shards"],
        band_groups=plan["band_groups"],
        bands=plan["bands"],
        rows=plan["rows"],
        policy=policy_for(config, source),
        plan=plan,
    )


def fingerprint_of(config: CurateConfig, source: sources.Source, digest: str) -> str:
    settings = {k: v for k, v in config_lib.dump(config).items() if k not in RUNTIME_FIELDS}
    return manifest.fingerprint(STAGE, {"source": source.label, "listing": digest}, settings)


# --------------------------------------------------------------------------------------------
# 1. plan


def plan(config: CurateConfig) -> dict[str, Any]:
    """Enumerate the source into work units. Returns {complete, shards, band_groups, …}."""
    out = config.output
    storage.ensure_writable(out)
    source = sources.resolve(config)
    listing = sources.list_source(source, config)
    fingerprint = fingerprint_of(config, source, listing.digest)
    bands, rows = config.band_layout()
    groups = min(config.band_groups, bands)
    info = {
        "output": out,
        "fingerprint": fingerprint,
        "shards": len(listing.units),
        "band_groups": groups,
        "complete": False,
    }
    if manifest.is_complete(out, fingerprint):
        return {**info, "complete": True}
    existing = _read_json(work_uri(out, "plan.json"))
    if existing is not None and existing.get("fingerprint") == fingerprint:
        return info  # resume an interrupted run
    clear_outputs(out)
    for index, unit in enumerate(listing.units):
        _write_json(work_uri(out, "units", f"{index:05d}.json"), unit)
    _write_json(
        work_uri(out, "licenses.json"),
        {
            "license_files": listing.license_files,
            "metadata_files": listing.metadata_files,
            "dist_owner": listing.dist_owner,
        },
    )
    _write_json(
        work_uri(out, "plan.json"),
        {
            "fingerprint": fingerprint,
            "config": config_lib.dump(config),
            "source": source.to_json(),
            "shards": len(listing.units),
            "band_groups": groups,
            "bands": bands,
            "rows": rows,
            "input_files": listing.input_files,
            "input_bytes": listing.input_bytes,
            "listing_sha256": listing.digest,
            "started": time.time(),
        },
    )
    log.event(
        _log,
        "planned",
        output=out,
        shards=len(listing.units),
        band_groups=groups,
        bands=bands,
        rows=rows,
    )
    return info


def clear_outputs(out: str) -> None:
    """Remove a previous run's results: the manifest first, so the folder is never a complete
    output with stale shards, then shards, rejects and work files. Other files are left alone."""
    storage.delete(manifest.manifest_uri(out))
    for info in storage.list_objects(out, recursive=False):
        name = storage.basename(info.uri)
        if name.startswith("part-") and name.endswith((".parquet", ".jsonl")):
            storage.delete(info.uri)
    storage.delete_prefix(storage.join(out, "rejects"))
    storage.delete_prefix(storage.join(out, WORK))


# --------------------------------------------------------------------------------------------
# 2. process-shard


def warm_up(config: CurateConfig) -> None:
    """Load what every process-shard call needs once, before a process pool forks, so the
    workers inherit it: pyarrow's lazy pandas shim (~0.3 s on the first array), the benchmark
    n-gram index (~0.3 s) and the MinHash permutations."""
    import pyarrow as pa

    pa.array([0])
    if config.decontaminate:
        _benchmark_index(config.decontam_ngram)
    _permutations(config.num_perm, config.minhash_seed)


@functools.cache
def _benchmark_index(ngram: int) -> Any:
    from tritter.curate.decontam import BenchmarkIndex

    return BenchmarkIndex.from_benchmarks(ngram)


@functools.cache
def _permutations(num_perm: int, seed: int) -> minhash.Permutations:
    return minhash.Permutations.create(num_perm, seed)


@dataclass
class _Candidate:
    """A document that passed the per-document checks, waiting for batch hashing."""

    row: dict[str, Any]
    data: bytes
    flaws: list[str]
    lic_rank: int


class _ShardWork:
    """Collects one shard's outputs in a local temp folder."""

    def __init__(self, run: Run, folder: Path) -> None:
        self.run = run
        self.sink = output.ParquetSink(folder / "docs.parquet", output.WORK_SCHEMA)
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

    def reject(self, path: str, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        record = {"path": path, "reason": reason}
        if detail:
            record["detail"] = detail
        self.rejects.append(record)


def process_shard(out: str, index: int) -> dict[str, Any]:
    """Ingest → license → filters → secrets → decontamination → security label → quality →
    exact hash → MinHash signature + band keys, for work unit `index`."""
    run = load_run(out)
    if run is None:
        return {"skipped": True}
    _check_index(run, index, run.shards, "shard")
    folder = work_uri(out, "shards", f"{index:05d}")
    done = run.marker_done(storage.join(folder, "stats.json"))
    if done is not None:
        return done
    started = time.monotonic()
    step_metrics = StepMetrics("curate_process")
    unit = _read_json(work_uri(out, "units", f"{index:05d}.json"))
    if unit is None:
        raise TritterError(f"{work_uri(out, 'units', f'{index:05d}.json')}: missing work unit")
    config = run.config
    resolver = _resolver(run) if run.source.kind == "files" else None
    input_docs = input_bytes = read_bytes = 0
    with tempfile.TemporaryDirectory(prefix="tritter-curate-") as tmp:
        work = _ShardWork(run, Path(tmp))
        batch: list[_Candidate] = []
        batch_bytes = 0
        for raw in sources.read_unit(run.source, unit, config):
            input_docs += 1
            input_bytes += raw.size
            if raw.reason is None:
                read_bytes += raw.size
            result = _inspect(raw, run, resolver)
            if isinstance(result, tuple):
                work.reject(raw.path, *result)
                continue
            batch.append(result)
            batch_bytes += len(result.data)
            if batch_bytes >= _BATCH_BYTES:
                _flush(work, batch)
                batch, batch_bytes = [], 0
        _flush(work, batch)
        work.sink.close()
        stats = _publish_shard(work, folder, Path(tmp))
    stats.update(
        fingerprint=run.fingerprint,
        index=index,
        input_documents=input_docs,
        input_bytes=input_bytes,
        read_bytes=read_bytes,
        seconds=round(time.monotonic() - started, 3),
    )
    assert input_docs == stats["passed"] + sum(stats["dropped"].values()), "document lost"
    _write_json(storage.join(folder, "stats.json"), stats)
    step_metrics.count("dropped", stats["dropped"])
    step_metrics.count("passed", {"": stats["passed"]})
    step_metrics.add_bytes("input", input_bytes)
    step_metrics.done(index)
    log.event(
        _log,
        "processed shard",
        shard=index,
        documents=input_docs,
        passed=stats["passed"],
        seconds=stats["seconds"],
    )
    return stats


def _check_index(run: Run, index: int, count: int, what: str) -> None:
    if not 0 <= index < count:
        raise TritterError(f"{run.output}: {what} index {index} out of range (0..{count - 1})")


def _resolver(run: Run) -> licenses.TreeResolver:
    data = _read_json(work_uri(run.output, "licenses.json")) or {}
    return licenses.TreeResolver(
        license_files=data.get("license_files", []),
        metadata_files=data.get("metadata_files", []),
        dist_owner=data.get("dist_owner", {}),
        read=functools.partial(sources.read_tree_text, run.source),
        policy=run.policy,
        declared=run.config.assume_license or run.source.declared_license,
    )


def _record_license(raw: sources.RawDoc, text: str, run: Run) -> str:
    allowed = run.policy.allowed
    found = licenses.from_header(text, allowed)
    if found is None and raw.record is not None:
        found = licenses.from_record_fields(raw.record, allowed)
    if found is None:
        declared = run.config.assume_license or run.source.declared_license
        found = licenses.choose(declared, allowed) if declared else licenses.UNKNOWN
    return found


def _inspect(
    raw: sources.RawDoc, run: Run, resolver: licenses.TreeResolver | None
) -> _Candidate | tuple[str, str]:
    """Per-document checks in REASONS order: (reason, detail) or a candidate row."""
    if raw.reason is not None:
        return raw.reason, raw.detail
    config = run.config
    if raw.data is not None:
        text, why = filters.decode(raw.data)
        if why:
            return why, ""
        data = raw.data[3:] if raw.data.startswith(b"\xef\xbb\xbf") else raw.data
    else:
        text = raw.text or ""
        if "\x00" in text:
            return "binary", ""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return "undecodable", "lone surrogate"
    assert text is not None
    language = raw.language or ""
    stats = filters.text_stats(data)
    why = filters.content_reason(text, stats, raw.path, language, run.limits)
    if why:
        return why, ""
    if resolver is not None:
        spdx, _ = resolver.resolve(raw.path, text)
    else:
        spdx = _record_license(raw, text, run)
    verdict = run.policy.verdict(spdx)
    if verdict:
        return verdict, spdx
    lowered = text.lower()
    detector = secrets.find_secret(text, lowered)
    if detector:
        return "secret", detector  # the detector's name only: never the value
    flaws = (
        [] if language in languages.DOC_LANGUAGES else security.find_flaws(text, language, lowered)
    )
    scored = quality.score(text, stats, language, lowered)
    score = scored.score * (0.5 if flaws else 1.0)
    if flaws:
        label, explanation = "negative", security.explain(flaws)
    elif score < config.min_quality:
        label, explanation = "negative", quality.explain(scored)
    else:
        label, explanation = "positive", None
    doc_id = hashlib.sha256(f"{raw.source}\0{raw.path}".encode()).hexdigest()
    row = {
        "id": doc_id,
        "text": text,
        "language": language,
        "subset": config.subset or languages.default_subset(language),
        "quality_score": round(float(score), 4),
        "quality_label": label,
        "explanation": explanation,
        "source": raw.source,
        "license": spdx,
        "stars": raw.stars,
        "sha256": hashlib.sha256(data).hexdigest(),
        "repo": raw.repo,
        "path": raw.path,
        "bytes": len(data),
        "flaws": ",".join(f.name for f in flaws)
        if flaws
        else ("low_quality" if label == "negative" else None),
    }
    return _Candidate(row, data, [f.name for f in flaws], run.policy.rank(spdx))


_WHITESPACE = b" \t\r\n\f\v"


def _flush(work: _ShardWork, batch: list[_Candidate]) -> None:
    """Batch hashing: word hashes → decontamination → signatures → band keys."""
    if not batch:
        return
    run = work.run
    config = run.config
    words = minhash.word_hashes([c.data for c in batch])
    keep = np.ones(len(batch), dtype=bool)
    if config.decontaminate:
        hits = _benchmark_index(config.decontam_ngram).contaminated(words, config.decontam_overlap)
        for i, snippet in enumerate(hits):
            if snippet is not None:
                keep[i] = False
                work.reject(
                    batch[i].row["path"],
                    "contamination",
                    f"{snippet.benchmark}:{snippet.task_id}:{snippet.part}",
                )
    if config.positive_only:
        for i, candidate in enumerate(batch):
            if keep[i] and candidate.row["quality_label"] == "negative":
                keep[i] = False
                work.reject(candidate.row["path"], "negative", candidate.row["flaws"] or "")
    survivors = [c for c, k in zip(batch, keep, strict=True) if k]
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
    exact = [
        int.from_bytes(
            hashlib.blake2b(c.data.translate(None, _WHITESPACE), digest_size=8).digest(), "little"
        )
        for c in survivors
    ]
    work.arrays["exact"].append(np.array(exact, dtype=np.uint64))
    work.arrays["lic_rank"].append(np.array([c.lic_rank for c in survivors], dtype=np.uint8))
    work.arrays["quality"].append(np.array([c.row["quality_score"] for c in survivors]))
    work.arrays["stars"].append(
        np.array(
            [-1 if c.row["stars"] is None else c.row["stars"] for c in survivors], dtype=np.int64
        )
    )
    work.arrays["idhash"].append(np.array([_tie_break(c.row) for c in survivors], np.uint64))
    work.ids.extend(c.row["id"] for c in survivors)
    columns = {name: [c.row[name] for c in survivors] for name in output.WORK_SCHEMA.names}
    columns["text"] = [c.data for c in survivors]  # the UTF-8 bytes: much faster to convert
    work.sink.write(columns)
    for candidate in survivors:
        for flaw in candidate.flaws:
            work.negatives[flaw] += 1


def _tie_break(row: dict[str, Any]) -> int:
    """The last dedup preference key: a hash of the document's path and content, so the same
    corpus makes the same choices wherever it is stored (the id also hashes the source URI)."""
    digest = hashlib.blake2b(f"{row['path']}\0{row['sha256']}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def _concat(chunks: list[np.ndarray], dtype: Any, shape: tuple[int, ...] = ()) -> np.ndarray:
    if not chunks:
        return np.zeros((0, *shape), dtype=dtype)
    return np.concatenate(chunks).astype(dtype, copy=False)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _publish_shard(work: _ShardWork, folder: str, tmp: Path) -> dict[str, Any]:
    run = work.run
    rows = work.sink.rows
    arrays = {
        "exact": _concat(work.arrays["exact"], np.uint64),
        "lic_rank": _concat(work.arrays["lic_rank"], np.uint8),
        "quality": _concat(work.arrays["quality"], np.float64),
        "stars": _concat(work.arrays["stars"], np.int64),
        "idhash": _concat(work.arrays["idhash"], np.uint64),
        "ids": np.array(work.ids, dtype="S64"),
        "shingle_offsets": np.concatenate(
            ([0], np.cumsum(_concat(work.shingle_counts, np.int64)))
        ).astype(np.int64),
    }
    bands = _concat(work.arrays["bands"], np.uint64, (run.bands,))
    for group, (lo, hi) in enumerate(_group_bands(run)):
        arrays[f"bands_{group}"] = np.ascontiguousarray(bands[:, lo:hi])
    np.savez(tmp / "dedup.npz", **arrays)
    signatures = _concat(work.signatures, np.uint32, (run.config.num_perm,))
    storage.upload_file(tmp / "docs.parquet", storage.join(folder, "docs.parquet"))
    storage.write_bytes(storage.join(folder, "signatures.npy"), _npy_bytes(signatures))
    shingles = _concat(work.shingles, np.uint32)
    storage.write_bytes(storage.join(folder, "shingles.npy"), _npy_bytes(shingles))
    storage.upload_file(tmp / "dedup.npz", storage.join(folder, "dedup.npz"))
    output.write_jsonl(tmp / "rejects.jsonl", work.rejects)
    storage.upload_file(tmp / "rejects.jsonl", storage.join(folder, "rejects.jsonl"))
    return {
        "passed": rows,
        "dropped": dict(sorted(work.counts.items())),
        "flaws": dict(sorted(work.negatives.items())),
    }


def _group_bands(run: Run) -> list[tuple[int, int]]:
    """Contiguous band ranges, one per band group."""
    edges = np.linspace(0, run.bands, run.band_groups + 1).round().astype(int)
    return [(int(edges[g]), int(edges[g + 1])) for g in range(run.band_groups)]


# --------------------------------------------------------------------------------------------
# 3. dedup-index


def _load_npz(uri: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    with storage.local_copy(uri) as path, np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in keys}


def _require_shards_processed(run: Run) -> list[dict[str, Any]]:
    stats = []
    for index in range(run.shards):
        marker = run.marker_done(work_uri(run.output, "shards", f"{index:05d}", "stats.json"))
        if marker is None:
            raise TritterError(f"{run.output}: shard {index} has not been processed yet")
        stats.append(marker)
    return stats


def _doc_table(run: Run, extra: tuple[str, ...] = ()) -> tuple[dedup.DocTable, dict]:
    keys = ("exact", "lic_rank", "quality", "stars", "idhash", *extra)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    refs = []
    for index in range(run.shards):
        loaded = _load_npz(work_uri(run.output, "shards", f"{index:05d}", "dedup.npz"), keys)
        for key in keys:
            parts[key].append(loaded[key])
        refs.append(dedup.make_refs(index, loaded["exact"].size))
    table = dedup.DocTable(
        refs=np.concatenate(refs),
        exact=np.concatenate(parts["exact"]),
        lic_rank=np.concatenate(parts["lic_rank"]),
        quality=np.concatenate(parts["quality"]),
        stars=np.concatenate(parts["stars"]),
        idhash=np.concatenate(parts["idhash"]),
    )
    return table, {key: np.concatenate(parts[key]) for key in extra}


class _ShardArrays:
    """Per-document arrays of every shard, addressed by table index: signature rows from each
    shard's signatures.npy and distinct-shingle sets from its shingles.npy (memory-mapped
    locally; downloaded once per shard from S3, only for shards that hold a candidate)."""

    def __init__(self, run: Run, table: dedup.DocTable, tmp: Path) -> None:
        self.run = run
        self.tmp = tmp
        self.shard_of = (table.refs >> dedup.SHARD_SHIFT).astype(np.int64)
        self.row_of = (table.refs & ((1 << dedup.SHARD_SHIFT) - 1)).astype(np.int64)
        self.arrays: dict[tuple[int, str], np.ndarray] = {}

    def _array(self, index: int, name: str) -> np.ndarray:
        if (index, name) not in self.arrays:
            folder = work_uri(self.run.output, "shards", f"{index:05d}")
            if name == "shingle_offsets":
                loaded = _load_npz(storage.join(folder, "dedup.npz"), (name,))[name]
            else:
                uri = storage.join(folder, name)
                path = (
                    storage.download_file(uri, self.tmp / f"{index:05d}-{name}")
                    if storage.is_s3(uri)
                    else storage.local_path(uri)
                )
                loaded = np.load(path, mmap_mode="r", allow_pickle=False)
            self.arrays[(index, name)] = loaded
        return self.arrays[(index, name)]

    def signature_rows(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((indices.size, self.run.config.num_perm), dtype=np.uint32)
        shards = self.shard_of[indices]
        for shard in np.unique(shards).tolist():
            mask = shards == shard
            out[mask] = self._array(shard, "signatures.npy")[self.row_of[indices[mask]]]
        return out

    def shingle_set(self, index: int) -> np.ndarray:
        shard, row = int(self.shard_of[index]), int(self.row_of[index])
        offsets = self._array(shard, "shingle_offsets")
        return np.asarray(self._array(shard, "shingles.npy")[offsets[row] : offsets[row + 1]])


# Candidates whose signature estimate is this far below the threshold skip the exact check
# (3.4 standard deviations of a 128-permutation estimate near 0.8).
_ESTIMATE_MARGIN = 0.15


def _verify(
    pairs: np.ndarray, arrays: _ShardArrays, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs whose exact Jaccard (of distinct shingle sets) reaches the threshold.

    The MinHash estimate has a standard error of ~0.035 at 0.8 with 128 permutations, enough to
    misjudge one pair in ten near the threshold; exact sets make the decision exact, and the
    estimate only spares reading sets for clearly dissimilar candidates.
    """
    likely, _ = dedup.verify_pairs(pairs, arrays.signature_rows, threshold - _ESTIMATE_MARGIN)
    similarity = np.array(
        [minhash.exact_jaccard(arrays.shingle_set(a), arrays.shingle_set(b))
         for a, b in likely.tolist()],
        dtype=np.float32,
    )  # fmt: skip
    keep = similarity >= threshold if similarity.size else np.zeros(0, dtype=bool)
    return likely[keep], similarity[keep]


def dedup_index(out: str, group: int) -> dict[str, Any]:
    """Join band keys of band group `group` across all shards; exact and near-dup edges."""
    run = load_run(out)
    if run is None:
        return {"skipped": True}
    _check_index(run, group, run.band_groups, "band group")
    marker_uri = work_uri(out, "dedup", f"group-{group:03d}.json")
    done = run.marker_done(marker_uri)
    if done is not None:
        return done
    _require_shards_processed(run)
    started = time.monotonic()
    table, extra = _doc_table(run, (f"bands_{group}", "ids"))
    groups = dedup.exact_groups(table)
    representative = groups.representative
    is_rep = groups.is_representative
    # Exact edges for the hash partition this group owns (each partition is owned once).
    owned = table.exact % np.uint64(run.band_groups) == group
    members = np.flatnonzero(~is_rep & owned) if run.config.dedup else np.zeros(0, np.int64)
    exact_member = table.refs[members]
    exact_rep = table.refs[representative[members]]
    near_a = near_b = np.zeros(0, dtype=np.int64)
    similarity = np.zeros(0, dtype=np.float32)
    candidates = 0
    if run.config.dedup and table.refs.size:
        keys = extra[f"bands_{group}"]
        pairs = dedup.unique_pairs(
            [dedup.candidate_pairs(keys[:, b], is_rep) for b in range(keys.shape[1])]
        )
        candidates = int(pairs.shape[0])
        with tempfile.TemporaryDirectory(prefix="tritter-dedup-") as tmp:
            arrays = _ShardArrays(run, table, Path(tmp))
            verified, similarity = _verify(pairs, arrays, run.config.dedup_threshold)
        near_a, near_b = table.refs[verified[:, 0]], table.refs[verified[:, 1]]
    # Attributes of every document the edges mention, so apply/finalize can pick keepers
    # without reading other shards.
    node_index = np.unique(
        np.concatenate(
            [
                members,
                representative[members],
                np.searchsorted(table.refs, near_a),
                np.searchsorted(table.refs, near_b),
            ]
        ).astype(np.int64)
    )
    arrays = {
        "exact_member": exact_member,
        "exact_rep": exact_rep,
        "near_a": near_a,
        "near_b": near_b,
        "near_similarity": similarity,
        "node_ref": table.refs[node_index],
        "node_id": extra["ids"][node_index],
        "node_lic_rank": table.lic_rank[node_index],
        "node_quality": table.quality[node_index],
        "node_stars": table.stars[node_index],
        "node_idhash": table.idhash[node_index],
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    storage.write_bytes(work_uri(out, "dedup", f"group-{group:03d}.npz"), buffer.getvalue())
    stats = {
        "fingerprint": run.fingerprint,
        "group": group,
        "documents": int(table.refs.size),
        "candidate_pairs": candidates,
        "verified_pairs": int(near_a.size),
        "exact_duplicates": int(exact_member.size),
        "seconds": round(time.monotonic() - started, 3),
    }
    _write_json(marker_uri, stats)
    step_metrics = StepMetrics("curate_dedup_index")
    step_metrics.done(group)
    log.event(
        _log,
        "indexed band group",
        group=group,
        candidates=candidates,
        verified=stats["verified_pairs"],
        exact=stats["exact_duplicates"],
    )
    return stats


# --------------------------------------------------------------------------------------------
# 4. apply-shard


@dataclass
class DedupDecisions:
    exact: dict[int, int]  # dropped ref → the ref kept instead
    near: dict[int, int]
    ids: dict[int, str]
    exact_group_sizes: list[int]
    near_cluster_sizes: list[int]


def _load_decisions(run: Run) -> DedupDecisions:
    parts: dict[str, list[np.ndarray]] = {}
    for group in range(run.band_groups):
        if run.marker_done(work_uri(run.output, "dedup", f"group-{group:03d}.json")) is None:
            raise TritterError(f"{run.output}: band group {group} has not been indexed yet")
        loaded = _load_npz(
            work_uri(run.output, "dedup", f"group-{group:03d}.npz"),
            (
                "exact_member",
                "exact_rep",
                "near_a",
                "near_b",
                "node_ref",
                "node_id",
                "node_lic_rank",
                "node_quality",
                "node_stars",
                "node_idhash",
            ),
        )
        for key, value in loaded.items():
            parts.setdefault(key, []).append(value)
    merged = {key: np.concatenate(values) for key, values in parts.items()}
    node_ref, first = np.unique(merged["node_ref"], return_index=True)
    keys = dedup.rank_keys(
        merged["node_lic_rank"][first],
        merged["node_quality"][first],
        merged["node_stars"][first],
        merged["node_idhash"][first],
    )
    clusters = dedup.near_clusters(merged["near_a"], merged["near_b"], node_ref, keys)
    exact = dict(zip(merged["exact_member"].tolist(), merged["exact_rep"].tolist(), strict=True))
    near = {ref: keeper for ref, keeper in clusters.keeper.items() if ref != keeper}
    ids = {int(r): i.decode() for r, i in zip(node_ref, merged["node_id"][first], strict=True)}
    group_sizes = Counter(exact.values())
    return DedupDecisions(
        exact=exact,
        near=near,
        ids=ids,
        exact_group_sizes=sorted((n + 1 for n in group_sizes.values()), reverse=True),
        near_cluster_sizes=clusters.sizes,
    )


def _part_name(run: Run, index: int) -> str:
    return f"part-{index:05d}.{'jsonl' if run.config.format == 'jsonl' else 'parquet'}"


def apply_shard(out: str, index: int) -> dict[str, Any]:
    """Drop duplicates and write the final shard `part-XXXXX` plus its reject list."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    run = load_run(out)
    if run is None:
        return {"skipped": True}
    _check_index(run, index, run.shards, "shard")
    marker_uri = work_uri(out, "apply", f"{index:05d}.json")
    done = run.marker_done(marker_uri)
    if done is not None:
        return done
    folder = work_uri(out, "shards", f"{index:05d}")
    if run.marker_done(storage.join(folder, "stats.json")) is None:
        raise TritterError(f"{out}: shard {index} has not been processed yet")
    decisions = _load_decisions(run)
    with storage.local_copy(storage.join(folder, "docs.parquet")) as path:
        table = pq.read_table(path, schema=output.WORK_SCHEMA)
    refs = dedup.make_refs(index, table.num_rows).tolist()
    keep = np.ones(table.num_rows, dtype=bool)
    dedup_rejects = []
    dropped: Counter[str] = Counter()
    paths = table.column("path").to_pylist()
    for row, ref in enumerate(refs):
        for reason, decided in (
            ("exact_duplicate", decisions.exact),
            ("near_duplicate", decisions.near),
        ):
            keeper = decided.get(ref)
            if keeper is not None:
                keep[row] = False
                dropped[reason] += 1
                detail = f"kept {decisions.ids.get(keeper, '?')}"
                dedup_rejects.append({"path": paths[row], "reason": reason, "detail": detail})
                break
    kept = table.filter(pa.array(keep))
    curated = output.curated_table(kept)
    counts = _kept_counts(kept)
    with tempfile.TemporaryDirectory(prefix="tritter-apply-") as tmp:
        local = Path(tmp) / "part"
        if run.config.format == "jsonl":
            output.write_jsonl(local, [output.seed_record(r) for r in curated.to_pylist()])
        else:
            pq.write_table(curated, local, compression=output.COMPRESSION)
        rejects_local = Path(tmp) / "rejects.jsonl"
        with storage.local_copy(storage.join(folder, "rejects.jsonl")) as earlier:
            previous = earlier.read_bytes()
        with open(rejects_local, "wb") as handle:
            handle.write(previous)
            for record in dedup_rejects:
                handle.write((json.dumps(record) + "\n").encode())
        files = []
        for local_path, relative in (
            (local, _part_name(run, index)),
            (rejects_local, f"rejects/part-{index:05d}.jsonl"),
        ):
            storage.upload_file(local_path, storage.join(out, *relative.split("/")))
            files.append(
                {
                    "path": relative,
                    "size": local_path.stat().st_size,
                    "sha256": storage.sha256_file(local_path),
                }
            )
    stats = {
        "fingerprint": run.fingerprint,
        "index": index,
        "kept": int(kept.num_rows),
        "dropped": dict(sorted(dropped.items())),
        "files": files,
        **counts,
    }
    _write_json(marker_uri, stats)
    step_metrics = StepMetrics("curate_apply")
    step_metrics.count("dropped", dropped)
    step_metrics.count("kept", counts["labels"])
    step_metrics.add_bytes("kept", counts["kept_bytes"])
    step_metrics.done(index)
    log.event(_log, "applied shard", shard=index, kept=stats["kept"], **dropped)
    return stats


def _kept_counts(kept: Any) -> dict[str, Any]:
    columns = kept.select(["language", "subset", "quality_label", "license", "flaws", "bytes"])
    data = columns.to_pydict()
    negatives: Counter[str] = Counter()
    for label, flaws in zip(data["quality_label"], data["flaws"], strict=True):
        if label == "negative":
            for flaw in (flaws or "low_quality").split(","):
                negatives[flaw] += 1
    return {
        "kept_bytes": int(sum(data["bytes"])),
        "labels": dict(Counter(data["quality_label"])),
        "languages": dict(Counter(data["language"])),
        "subsets": dict(Counter(data["subset"])),
        "licenses": dict(Counter(data["license"])),
        "negatives": dict(negatives),
    }


# --------------------------------------------------------------------------------------------
# 5. finalize


def _merge(counters: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return dict(sorted(total.items()))


def finalize(out: str) -> dict[str, Any]:
    """Check that every document is accounted for, write `_manifest.json`, drop `_work/`."""
    run = load_run(out)
    if run is None:
        found = manifest.read_manifest(out)
        return {"skipped": True, "counts": found.counts if found else {}}
    if manifest.is_complete(out, run.fingerprint):
        found = manifest.read_manifest(out)
        assert found is not None
        if not run.config.keep_work:
            storage.delete_prefix(storage.join(out, WORK))
        return {"skipped": True, "counts": found.counts}
    processed = _require_shards_processed(run)
    applied = []
    for index in range(run.shards):
        marker = run.marker_done(work_uri(out, "apply", f"{index:05d}.json"))
        if marker is None:
            raise TritterError(f"{out}: shard {index} has not been applied yet")
        applied.append(marker)
    groups = [
        run.marker_done(work_uri(out, "dedup", f"group-{g:03d}.json"))
        for g in range(run.band_groups)
    ]
    decisions = _load_decisions(run)
    dropped = _merge([s["dropped"] for s in processed] + [a["dropped"] for a in applied])
    input_documents = sum(s["input_documents"] for s in processed)
    kept = sum(a["kept"] for a in applied)
    if input_documents != kept + sum(dropped.values()):
        raise TritterError(
            f"{out}: accounting error: {input_documents} inputs != {kept} kept + "
            f"{sum(dropped.values())} dropped"
        )
    seconds = time.time() - run.plan["started"]
    read_bytes = sum(s["read_bytes"] for s in processed)
    counts = {
        "input_documents": input_documents,
        "input_bytes": sum(s["input_bytes"] for s in processed),
        "read_bytes": read_bytes,
        "kept_documents": kept,
        "kept_bytes": sum(a["kept_bytes"] for a in applied),
        "dropped_documents": sum(dropped.values()),
        "dropped": {reason: dropped[reason] for reason in REASONS if reason in dropped},
        "labels": _merge([a["labels"] for a in applied]),
        "negatives": _merge([a["negatives"] for a in applied]),
        "languages": _merge([a["languages"] for a in applied]),
        "subsets": _merge([a["subsets"] for a in applied]),
        "licenses": _merge([a["licenses"] for a in applied]),
        "dedup": {
            "exact_groups": len(decisions.exact_group_sizes),
            "exact_removed": len(decisions.exact),
            "largest_exact_group": max(decisions.exact_group_sizes, default=0),
            "near_clusters": len(decisions.near_cluster_sizes),
            "near_removed": len(decisions.near),
            "largest_near_cluster": max(decisions.near_cluster_sizes, default=0),
            "candidate_pairs": sum(g["candidate_pairs"] for g in groups if g),
            "verified_pairs": sum(g["verified_pairs"] for g in groups if g),
            "threshold": run.config.dedup_threshold,
            "num_perm": run.config.num_perm,
            "bands": run.bands,
            "rows": run.rows,
        },
        "shards": run.shards,
    }
    files = [manifest.FileEntry(**entry) for a in applied for entry in a["files"]]
    extra = {
        "source": run.source.to_json(),
        "license_policy": {
            "allowed": sorted(run.policy.allowed),
            "allow_unknown": run.policy.allow_unknown,
            "assume_license": run.config.assume_license,
            "source_declaration": run.source.declaration_note or None,
        },
        "format": run.config.format,
        "schema": "tritter.schema.CURATED_SCHEMA"
        if run.config.format == "parquet"
        else "seed JSONL (text, language, quality_score, quality_label, explanation, source, "
        "license, stars)",
        "throughput": {
            "seconds": round(seconds, 2),
            "read_mb_per_second": round(read_bytes / 1e6 / max(seconds, 1e-9), 2),
            "process_seconds": round(sum(s["seconds"] for s in processed), 2),
        },
        "input_files": run.plan.get("input_files"),
        "listing_sha256": run.plan.get("listing_sha256"),
    }
    result = manifest.Manifest(
        stage=STAGE,
        fingerprint=run.fingerprint,
        inputs={"source": run.source.label, "listing_sha256": run.plan.get("listing_sha256")},
        config=config_lib.dump(run.config),
        counts=counts,
        files=files,
        extra=extra,
    )
    manifest.write_manifest(out, result)
    if not run.config.keep_work:
        storage.delete_prefix(storage.join(out, WORK))
    log.event(_log, "curation finished", output=out, kept=kept, dropped=counts["dropped_documents"])
    return {"skipped": False, "counts": counts, "extra": extra}
