"""`tritter curate` in one process tree: every step in a local process pool, then a summary.

The steps are the same functions the Kubeflow components call (`tritter.jobs.curate`); here
`concurrent.futures.ProcessPoolExecutor` plays the role of `ParallelFor`. One pool serves all
three fan-out phases so workers (and their cached benchmark index) start once.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any

from tritter import log, manifest, progress
from tritter.curate import steps
from tritter.curate.config import CurateConfig

_log = log.get_logger("curate")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _run_all(
    pool: Executor | None,
    function: Callable[[str, int], dict[str, Any]],
    out: str,
    indices: Iterable[int],
    what: str,
) -> list[dict[str, Any]]:
    indices = list(indices)
    if pool is None:
        return [function(out, i) for i in progress.track(indices, total=len(indices), desc=what)]
    futures = [pool.submit(function, out, i) for i in indices]
    try:
        done = progress.track(as_completed(futures), total=len(futures), desc=what)
        for future in done:
            future.result()  # re-raises a worker's TritterError here
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return [future.result() for future in futures]


def run(config: CurateConfig) -> dict[str, Any]:
    """Plan, process, index, apply and finalize; returns the summary (also for a no-op)."""
    started = time.monotonic()
    info = steps.plan(config)
    out = config.output
    if info["complete"]:
        found = manifest.read_manifest(out)
        assert found is not None
        log.event(_log, "output already complete; nothing to do", output=out)
        return {
            "up_to_date": True,
            "counts": found.counts,
            "extra": found.extra,
            "seconds": time.monotonic() - started,
            "workers": 0,
        }
    workers = min(config.workers or cpu_count(), max(info["shards"], 1))
    steps.warm_up(config)
    pool: ProcessPoolExecutor | None = None
    if workers > 1:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
    try:
        _run_all(pool, steps.process_shard, out, range(info["shards"]), "process shards")
        _run_all(pool, steps.dedup_index, out, range(info["band_groups"]), "dedup index")
        _run_all(pool, steps.apply_shard, out, range(info["shards"]), "apply shards")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    result = steps.finalize(out)
    return {
        "up_to_date": False,
        "counts": result["counts"],
        "extra": result.get("extra", {}),
        "seconds": time.monotonic() - started,
        "workers": workers,
    }


def _row(label: str, value: Any, note: str = "", indent: int = 2) -> str:
    shown = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{' ' * indent}{label:<{30 - indent}}{shown:>12}  {note}".rstrip()


def summary_table(summary: dict[str, Any], config: CurateConfig) -> str:
    """The human-readable end-of-run report (kept, drops per reason, negatives, dedup, speed)."""
    counts = summary["counts"]
    dedup = counts.get("dedup", {})
    mb = 1e6
    lines = [
        f"tritter curate: {config.input} -> {config.output} ({config.format}, "
        f"{counts.get('shards', '?')} shards)"
        + ("  [already complete: nothing to do]" if summary["up_to_date"] else ""),
        _row(
            "input documents",
            counts["input_documents"],
            f"{counts['input_bytes'] / mb:.1f} MB listed, {counts['read_bytes'] / mb:.1f} MB read",
        ),
        _row(
            "kept",
            counts["kept_documents"],
            f"{counts['kept_bytes'] / mb:.1f} MB  "
            + "  ".join(f"{k} {v:,}" for k, v in sorted(counts.get("labels", {}).items())),
        ),
        _row("dropped", counts["dropped_documents"]),
    ]
    for reason, value in counts.get("dropped", {}).items():
        lines.append(_row(reason, value, indent=4))
    negatives = counts.get("negatives", {})
    lines.append(
        _row("negative documents", counts.get("labels", {}).get("negative", 0),
             "per flaw (a document can have several):")
    )  # fmt: skip
    for flaw, value in sorted(negatives.items(), key=lambda kv: -kv[1]):
        lines.append(_row(flaw, value, indent=4))
    lines += [
        _row(
            "exact-duplicate groups",
            dedup.get("exact_groups", 0),
            f"{dedup.get('exact_removed', 0):,} removed, largest "
            f"{dedup.get('largest_exact_group', 0)}",
        ),
        _row(
            "near-duplicate clusters",
            dedup.get("near_clusters", 0),
            f"{dedup.get('near_removed', 0):,} removed, largest "
            f"{dedup.get('largest_near_cluster', 0)} (Jaccard >= {dedup.get('threshold')}, "
            f"{dedup.get('bands')}x{dedup.get('rows')} LSH, "
            f"{dedup.get('candidate_pairs', 0):,} candidates, "
            f"{dedup.get('verified_pairs', 0):,} verified)",
        ),
    ]
    if summary["up_to_date"]:
        throughput = summary.get("extra", {}).get("throughput", {})
        lines.append(
            _row(
                "time (original run)",
                f"{throughput.get('seconds', '?')} s",
                f"{throughput.get('read_mb_per_second', '?')} MB/s read",
            )
        )
    else:
        seconds = summary["seconds"]
        rate = counts["read_bytes"] / mb / max(seconds, 1e-9)
        lines.append(
            _row(
                "time",
                f"{seconds:.1f} s",
                f"{rate:.2f} MB/s read, {rate / summary['workers']:.2f} MB/s per "
                f"worker ({summary['workers']} workers)",
            )
        )
    return "\n".join(lines)
