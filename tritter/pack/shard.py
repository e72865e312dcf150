"""Packing one output shard: read its curated rows, tokenize, write the two `.npy` files and
the document sidecar (`tritter.data.sidecar`: which curated document every token span is).

Documents are tokenized once, in curated order, into a local scratch file; the shard is then
written in its final order by copying token slices. For the training split that order is a
seeded hash of (document, copy), which scatters the copies of a repeated document across the
shard instead of placing them back to back. Validation shards keep curated order.

The step is idempotent: its result marker (`_work/shards/NNNNN.json`, written after the files)
names the plan fingerprint and the files' sizes; a rerun with the marker and files in place
does nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tritter import log, storage, units
from tritter.data import curated as curated_input
from tritter.data.render import render
from tritter.data.selection import unit_hash
from tritter.data.shardfile import TokenFileWriter, shard_paths, write_docs
from tritter.data.sidecar import sidecar_path, write_sidecar
from tritter.errors import TritterError
from tritter.pack import metrics
from tritter.pack.plan import Plan, ShardPlan, load_plan, load_tokenizer, work_uri
from tritter.run_folder import PACK_MANIFEST

if TYPE_CHECKING:
    from tritter.tokenizer import Tokenizer

_log = log.get_logger("pack")
ENCODE_BATCH_BYTES = 4 * 1024 * 1024
COPY_BATCH_TOKENS = 8 * 1024 * 1024
TEXT_COLUMNS = ("sha256", "subset", "language", "quality_label", "text", "explanation", "id",
                "repo", "path")  # fmt: skip
# Per unique document, what its sidecar rows carry besides the span.
IDENTITY_COLUMNS = ("id", "repo", "path", "sha256", "language")


def result_uri(output: str, index: int) -> str:
    return work_uri(output, "shards", f"{index:05d}.json")


def read_result(plan: Plan, index: int) -> dict[str, Any] | None:
    """The finished result of shard `index` under this plan, or None."""
    return units.read(result_uri(plan.output, index), plan.fingerprint)


def _selected_rows(plan: Plan, shard: ShardPlan, columns: dict[str, list[Any]]) -> list[int]:
    """Indexes (into `columns`) of the rows this output shard packs, re-deriving the plan's
    hash-threshold decisions."""
    config = plan.pack_config
    subset_plan = plan.subsets[shard.subset]
    candidates = [
        i
        for i, subset in enumerate(columns["subset"])
        if subset == shard.subset
        and not (config.negatives == "drop" and columns["quality_label"][i] == "negative")
    ]
    shas = [columns["sha256"][i] for i in candidates]
    is_val = unit_hash(shas, config.seed, "val") < subset_plan.val_threshold
    wanted = is_val if shard.split == "val" else ~is_val
    return [i for i, keep in zip(candidates, wanted, strict=True) if keep]


def _multiplicity(plan: Plan, shard: ShardPlan, shas: list[str]) -> np.ndarray:
    if shard.split == "val":
        return np.ones(len(shas), dtype=np.int64)
    subset_plan = plan.subsets[shard.subset]
    extra = unit_hash(shas, plan.pack_config.seed, "repeat") < subset_plan.repeat_threshold
    return subset_plan.repeat_base + extra.astype(np.int64)


def pack_shard(output: str, index: int, threads: int | None = None) -> dict[str, Any]:
    """Pack work unit `index` of the plan under `output` (skipped when already done)."""
    plan = load_plan(output)
    if PACK_MANIFEST.current(plan.output, plan.fingerprint) is not None:
        return {"index": index, "skipped": True}
    if not 0 <= index < len(plan.shards):
        raise TritterError(
            f"{output}: shard index {index} out of range (plan has {len(plan.shards)})"
        )
    done = read_result(plan, index)
    if done is not None and _files_intact(plan.output, done):
        return {**done, "skipped": True}
    started, started_cpu = time.time(), time.process_time()
    shard = plan.shards[index]
    config = plan.pack_config
    tokenizer = load_tokenizer(plan.tokenizer)
    if tokenizer.sha256 != plan.tokenizer_sha256:
        raise TritterError(
            f"{plan.tokenizer}: tokenizer sha256 {tokenizer.sha256[:12]} differs from the one "
            f"this pack was planned with ({plan.tokenizer_sha256[:12]}); re-run the plan step"
        )
    threads = threads or config.threads
    dtype = np.dtype(plan.dtype)
    eos = plan.eos_id
    tokens_rel, docs_rel = shard_paths(shard.split, shard.subset, shard.ordinal)
    sidecar_rel = sidecar_path(tokens_rel)
    stats: Counter = Counter()
    language_tokens: Counter = Counter()

    with tempfile.TemporaryDirectory(prefix="tritter-pack-") as tmp:
        scratch = TokenFileWriter(Path(tmp) / "scratch.npy", dtype)
        lengths: list[int] = []  # per unique document, including its EOS
        shas: list[str] = []
        languages: list[str] = []
        identity: dict[str, list] = {name: [] for name in (*IDENTITY_COLUMNS, "text_bytes")}
        for curated_index, first, end in shard.ranges:
            columns = curated_input.read_rows(
                plan.curated_shard(curated_index), np.arange(first, end), TEXT_COLUMNS
            )
            rows = _selected_rows(plan, shard, columns)
            # A subsampled subset leaves some documents with no copy: never tokenize those.
            used = _multiplicity(plan, shard, [columns["sha256"][row] for row in rows]) > 0
            rows = [row for row, keep in zip(rows, used, strict=True) if keep]
            batch: list[str] = []
            batch_bytes = 0
            for position, row in enumerate(rows):
                text = render(
                    columns["text"][row],
                    columns["language"][row],
                    columns["quality_label"][row] == "negative",
                    columns["explanation"][row],
                    config.negatives,
                )
                if text is None:
                    continue
                batch.append(text)
                batch_bytes += len(text.encode())
                shas.append(columns["sha256"][row])
                languages.append(columns["language"][row])
                for name in IDENTITY_COLUMNS:
                    identity[name].append(columns[name][row])
                identity["text_bytes"].append(len(text.encode()))
                stats["text_bytes"] += len(text.encode())
                if batch_bytes >= ENCODE_BATCH_BYTES or position == len(rows) - 1:
                    lengths.extend(_encode_into(scratch, tokenizer, batch, eos, threads))
                    batch, batch_bytes = [], 0
            if batch:
                lengths.extend(_encode_into(scratch, tokenizer, batch, eos, threads))
        scratch.close()

        lengths_array = np.asarray(lengths, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths_array)[:-1]]).astype(np.int64)
        multiplicity = _multiplicity(plan, shard, shas)
        copies = np.repeat(np.arange(len(shas)), multiplicity)
        copy_number = (
            np.concatenate([np.arange(m) for m in multiplicity]) if len(copies) else copies
        )
        if shard.split == "train" and len(copies):
            keys = [f"{shas[d]}:{c}" for d, c in zip(copies, copy_number, strict=True)]
            copies = copies[np.argsort(unit_hash(keys, config.seed, "order"), kind="stable")]
        for doc, count in enumerate(multiplicity):
            language_tokens[languages[doc]] += int(lengths_array[doc] * count)

        source = np.load(Path(tmp) / "scratch.npy", mmap_mode="r") if lengths else None
        tokens_path, docs_path = Path(tmp) / "tokens.npy", Path(tmp) / "docs.npy"
        writer = TokenFileWriter(tokens_path, dtype)
        pending: list[np.ndarray] = []
        pending_tokens = 0
        for doc in copies:
            piece = source[starts[doc] : starts[doc] + lengths_array[doc]]
            pending.append(piece)
            pending_tokens += len(piece)
            if pending_tokens >= COPY_BATCH_TOKENS:
                writer.write(np.concatenate(pending))
                pending, pending_tokens = [], 0
        if pending:
            writer.write(np.concatenate(pending))
        total = writer.close()
        boundaries = np.concatenate([[0], np.cumsum(lengths_array[copies])]).astype(np.int64)
        write_docs(docs_path, boundaries)
        del source
        sidecar = Path(tmp) / "documents.parquet"
        write_sidecar(
            sidecar,
            {
                **{name: [values[d] for d in copies] for name, values in identity.items()},
                "start": boundaries[:-1],
                "end": boundaries[1:],
            },
        )

        files = []
        outputs = ((tokens_path, tokens_rel), (docs_path, docs_rel), (sidecar, sidecar_rel))
        for local, relative in outputs:
            uri = storage.join(plan.output, relative)
            storage.upload_file(local, uri)
            files.append(
                {
                    "path": relative,
                    "size": local.stat().st_size,
                    "sha256": storage.sha256_file(local),
                }
            )

    result = {
        "index": index,
        "split": shard.split,
        "subset": shard.subset,
        "tokens_path": tokens_rel,
        "docs_path": docs_rel,
        "documents_path": sidecar_rel,
        "files": files,
        "tokens": int(total),
        "documents": len(copies),
        "unique_documents": len(shas),
        "unique_tokens": int(lengths_array.sum()),
        "text_bytes": int(stats["text_bytes"]),
        "language_tokens": dict(sorted(language_tokens.items())),
        "seconds": round(time.time() - started, 3),
        # CPU time of this process (all its threads): the per-core cost, whatever the load
        "cpu_seconds": round(time.process_time() - started_cpu, 3),
    }
    result = units.write(result_uri(plan.output, index), plan.fingerprint, result)
    metrics.shard_done(result, plan.output)
    log.event(
        _log,
        "shard packed",
        index=index,
        split=shard.split,
        subset=shard.subset,
        tokens=result["tokens"],
        documents=result["documents"],
        mb_per_s=round(result["text_bytes"] / 1e6 / max(result["seconds"], 1e-9), 2),
    )
    return result


def _encode_into(
    scratch: TokenFileWriter, tokenizer: Tokenizer, texts: list[str], eos: int, threads: int
) -> list[int]:
    """Tokenize a batch, append each document plus EOS to the scratch file; return lengths."""
    encoded = tokenizer.encode_batch(texts, num_threads=threads)
    lengths = [len(ids) + 1 for ids in encoded]
    flat = np.empty(sum(lengths), dtype=np.int64)
    position = 0
    for ids in encoded:
        flat[position : position + len(ids)] = ids
        flat[position + len(ids)] = eos
        position += len(ids) + 1
    scratch.write(flat)
    return lengths


def _files_intact(output: str, result: dict[str, Any]) -> bool:
    for entry in result.get("files", []):
        try:
            if storage.size(storage.join(output, entry["path"])) != entry["size"]:
                return False
        except FileNotFoundError:
            return False
    return True
