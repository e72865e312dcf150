"""Step 4, apply-shard: drop one shard's duplicates and publish its final files.

Work unit `i` reads its processed rows and its own shard's dedup decisions (its slice of every
dedup partition's decision file, `index.shard_decisions`), then writes `part-0000i.parquet` (or
`.jsonl`) with the curated columns and `rejects/part-0000i.jsonl` (the shard's earlier
rejects plus its duplicates, each naming the id of the copy kept instead), then its marker
`_work/apply/0000i.json` (`ApplyStats`: the counts finalize adds up, and each file's size and
sha256 for the manifest).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tritter import log, storage
from tritter.curate import dedup
from tritter.curate.index import shard_decisions
from tritter.curate.metrics import StepMetrics
from tritter.curate.output import (
    COMPRESSION,
    WORK_SCHEMA,
    curated_table,
    jsonl_record,
    write_jsonl,
)
from tritter.curate.plan import Run, load_run
from tritter.curate.process import ShardStats
from tritter.curate.work import Marker, Skipped, all_markers, read_marker, write_marker
from tritter.errors import TritterError
from tritter.manifest import Record

_log = log.get_logger("curate")


class PartFile(Record):
    """One published file, by path relative to the output folder."""

    path: str
    size: int
    sha256: str


class ApplyStats(Marker):
    """`_work/apply/NNNNN.json`: what apply-shard kept and dropped, and the files it wrote."""

    index: int
    kept: int
    dropped: dict[str, int]  # duplicate reason → documents
    files: list[PartFile]
    kept_bytes: int
    labels: dict[str, int]  # quality label → kept documents
    languages: dict[str, int]
    subsets: dict[str, int]
    licenses: dict[str, int]
    negatives: dict[str, int]  # flaw (or low_quality) → kept negative documents


def applied_shards(run: Run) -> list[ApplyStats]:
    """Every shard's apply marker; a one-line error naming the first shard not applied yet."""
    uris = [run.work.applied(index) for index in range(run.shards)]
    return all_markers(run.output, run.fingerprint, uris, ApplyStats,
                       "shard {} has not been applied yet")  # fmt: skip


def part_name(run: Run, index: int) -> str:
    return f"part-{index:05d}.{'jsonl' if run.config.format == 'jsonl' else 'parquet'}"


def apply_shard(output: str, index: int) -> ApplyStats | Skipped:
    """Drop duplicates and write the final shard `part-XXXXX` plus its reject list."""
    run = load_run(output)
    if run is None:
        return Skipped()
    run.check_index(index, run.shards, "shard")
    marker_uri = run.work.applied(index)
    done = read_marker(marker_uri, run.fingerprint, ApplyStats)
    if done is not None:
        return done
    if read_marker(run.work.shard(index, "stats.json"), run.fingerprint, ShardStats) is None:
        raise TritterError(f"{output}: shard {index} has not been processed yet")
    decisions = shard_decisions(run, index)
    with storage.local_copy(run.work.shard(index, "docs.parquet")) as path:
        table = pq.read_table(path, schema=WORK_SCHEMA)
    refs = dedup.make_refs(index, table.num_rows).tolist()
    keep = np.ones(table.num_rows, dtype=bool)
    dedup_rejects = []
    dropped: Counter[str] = Counter()
    paths = table.column("path").to_pylist()
    for row, ref in enumerate(refs):
        decided = decisions.get(ref)
        if decided is not None:
            reason, keeper_id = decided
            keep[row] = False
            dropped[reason] += 1
            detail = f"kept {keeper_id}"
            dedup_rejects.append({"path": paths[row], "reason": reason, "detail": detail})
    kept = table.filter(pa.array(keep))
    with tempfile.TemporaryDirectory(prefix="tritter-apply-") as tmp:
        files = _publish(run, index, kept, dedup_rejects, Path(tmp))
    stats = ApplyStats(
        fingerprint=run.fingerprint,
        index=index,
        kept=int(kept.num_rows),
        dropped=dict(sorted(dropped.items())),
        files=files,
        **_kept_counts(kept),
    )
    write_marker(marker_uri, stats)
    step_metrics = StepMetrics("curate_apply", run.output)
    step_metrics.count("dropped", dropped)
    step_metrics.count("kept", stats.labels)
    step_metrics.add_bytes("kept", stats.kept_bytes)
    step_metrics.done(index)
    log.event(_log, "applied shard", shard=index, kept=stats.kept, **dropped)
    return stats


def _publish(
    run: Run, index: int, kept: pa.Table, dedup_rejects: list[dict[str, str]], tmp: Path
) -> list[PartFile]:
    """Write the part file and the shard's reject list locally, upload each whole."""
    curated = curated_table(kept)
    local = tmp / "part"
    if run.config.format == "jsonl":
        write_jsonl(local, [jsonl_record(r) for r in curated.to_pylist()])
    else:
        pq.write_table(curated, local, compression=COMPRESSION)
    rejects_local = tmp / "rejects.jsonl"
    with storage.local_copy(run.work.shard(index, "rejects.jsonl")) as earlier:
        previous = earlier.read_bytes()
    with open(rejects_local, "wb") as handle:
        handle.write(previous)
        for record in dedup_rejects:
            handle.write((json.dumps(record) + "\n").encode())
    files = []
    for local_path, relative in (
        (local, part_name(run, index)),
        (rejects_local, f"rejects/part-{index:05d}.jsonl"),
    ):
        storage.upload_file(local_path, storage.join(run.output, *relative.split("/")))
        files.append(
            PartFile(
                path=relative,
                size=local_path.stat().st_size,
                sha256=storage.sha256_file(local_path),
            )
        )
    return files


def _kept_counts(kept: pa.Table) -> dict[str, Any]:
    """What the manifest counts about the kept documents (the `ApplyStats` fields)."""
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
