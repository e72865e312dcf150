"""Benchmark dedup (issue #17 point 4): the former implementation against the partitioned one,
on a synthetic signature set with planted near-duplicate clusters. Not a test: it prints.

    .venv/bin/python tests/benchmarks/bench_dedup.py [--docs 2000000] [--docs-per-shard 1000]
        [--workers 2] [--partitions P] [--old-apply-sample 8] [--dir D] [--skip-old]

1. Documents: sets of 24 random 64-bit shingles (so ~24 word 5-grams each), laid out as the
   `_work/` of a processed curation run (`tests/curate/synthetic_dedup.py`: per shard
   `dedup.npz`, `signatures.npy` and `shingles.npy` from the stage's own MinHash code, 128
   permutations, 18x7 LSH bands). Planted: exact-duplicate groups (2-4 copies), stars (a centre
   and 3-8 variants), chains (4-16 documents, only neighbours similar), near-duplicate pairs;
   the rest unique. Documents are shuffled across shards.
2. Former implementation (`tests/curate/dedup_reference.py`, the code before this change):
   one dedup-index unit per band group, each loading every shard's per-document table; every
   apply unit then loads every group's edges and replays the global union-find. Apply units
   take as long as each other, so only `--old-apply-sample` of them are run and the total is
   extrapolated (printed as such).
3. Partitioned implementation: every fan-out of `tritter.curate.index.dedup_steps`, then the
   apply units' decision reads (`index.shard_decisions`) for every shard.

Every fan-out runs in a fresh pool of `--workers` spawned processes (nothing inherited from
this one); each unit reports its process' peak RSS, and the table shows the
largest per worker (VmHWM), with the idle worker's RSS (Python, numpy, tritter imported) for
reference. Apply is timed for its dedup part only: reading the Parquet rows and writing the
part files is the same in both. Timings depend on what else the machine runs: the load
average is printed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.curate import dedup_reference
from tests.curate.synthetic_dedup import write_run
from tritter.curate import index
from tritter.curate.plan import load_run

LENGTH = 24  # shingles per document


@dataclass
class ArrayDocs:
    """The benchmark's documents as arrays (what `write_run` reads)."""

    shingles: np.ndarray  # [documents, LENGTH] uint64
    exact: np.ndarray
    lic: np.ndarray
    quality: np.ndarray
    stars: np.ndarray

    def __len__(self) -> int:
        return int(self.exact.size)

    def shingle_sets(self, docs: list[int]) -> list[np.ndarray]:
        return list(self.shingles[docs])


def generate(n: int, seed: int) -> tuple[ArrayDocs, dict[str, int]]:
    """`n` documents: ~5% each in exact groups, stars, chains and near pairs, the rest unique.

    A derived document copies its source's row (an exact copy also its hash) and replaces two
    shingles (one for a pair): Jaccard 22/26 = 0.85 with its source, 20/28 = 0.71 with a
    document two steps away, so a chain is connected only through its neighbours.
    """
    rng = np.random.default_rng(seed)
    source = np.full(n, -1, dtype=np.int64)
    generation = np.zeros(n, dtype=np.int64)
    changed = np.zeros((n, 2), dtype=np.int64)  # replaced positions; (-1, -1): exact copy
    planted = {"exact_groups": 0, "stars": 0, "chains": 0, "pairs": 0}
    budget = {"exact_groups": n // 20, "stars": n // 20, "chains": n // 20, "pairs": n // 20}
    doc = 0

    def derive(of: int, positions: tuple[int, int]) -> int:
        nonlocal doc
        source[doc], changed[doc] = of, positions
        generation[doc] = generation[of] + 1
        doc += 1
        return doc - 1

    for kind in budget:
        used = 0
        while used < budget[kind] and doc < n - 20:
            first = doc
            doc += 1
            if kind == "exact_groups":
                for _ in range(int(rng.integers(1, 4))):
                    derive(first, (-1, -1))
            elif kind == "stars":
                for k in range(int(rng.integers(3, 9))):
                    derive(first, (2 * k, 2 * k + 1))
            elif kind == "chains":
                previous = first
                for k in range(int(rng.integers(3, 16))):
                    previous = derive(previous, ((2 * k) % LENGTH, (2 * k + 1) % LENGTH))
            else:
                position = int(rng.integers(0, LENGTH))
                derive(first, (position, position))
            used += doc - first
            planted[kind] += 1
    shingles = rng.integers(1, 2**63, size=(n, LENGTH), dtype=np.uint64)
    exact = rng.integers(1, 2**63, size=n, dtype=np.uint64)
    for level in range(1, int(generation.max(initial=0)) + 1):
        rows = np.flatnonzero(generation == level)
        shingles[rows] = shingles[source[rows]]
        copies = rows[changed[rows, 0] < 0]
        exact[copies] = exact[source[copies]]
        variants = rows[changed[rows, 0] >= 0]
        for column in (0, 1):
            shingles[variants, changed[variants, column]] = rng.integers(
                1, 2**63, size=variants.size, dtype=np.uint64
            )
    docs = ArrayDocs(
        shingles=shingles,
        exact=exact,
        lic=(rng.random(n) < 0.9).astype(np.uint8),
        quality=np.round(rng.random(n), 4),
        stars=rng.integers(-1, 50, size=n),
    )
    planted["derived"] = int((source >= 0).sum())
    return docs, planted


# --------------------------------------------------------------------------------------------
# Running fan-outs in fresh spawned pools, measuring every worker's peak RSS


def peak_rss_kb() -> int:
    """This process' peak resident set since it started (VmHWM). Not `ru_maxrss`: Linux carries
    that across exec, so a spawned worker would report the parent's size at fork."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _task(function: Callable, *args: object) -> tuple[int, int]:
    function(*args)
    return os.getpid(), peak_rss_kb()


def _idle(seconds: float) -> None:
    time.sleep(seconds)


@dataclass
class Measured:
    step: str
    units: int
    seconds: float
    peak_mb: float  # largest peak RSS of any worker
    note: str = ""


def fan_out(step: str, function: Callable, calls: list[tuple], workers: int) -> Measured:
    """Run `function(*call)` for every call in a fresh pool; wall time excludes pool start."""
    context = multiprocessing.get_context("spawn")
    peaks: dict[int, int] = {}
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for future in [pool.submit(_task, _idle, 0.3) for _ in range(workers)]:
            pid, rss = future.result()  # workers started and imported
            peaks[pid] = rss
        started = time.monotonic()
        for future in [pool.submit(_task, function, *call) for call in calls]:
            pid, rss = future.result()
            peaks[pid] = max(peaks.get(pid, 0), rss)
        seconds = time.monotonic() - started
    return Measured(step, len(calls), seconds, max(peaks.values()) / 1024)


def idle_worker_mb() -> float:
    measured = fan_out("idle", _idle, [(0.0,)], 1)
    return measured.peak_mb


# --------------------------------------------------------------------------------------------


def run_old(output: str, workers: int, sample: int) -> list[Measured]:
    run = load_run(output)
    folder = str(Path(output).parent / "old-groups")
    results = [fan_out("dedup-index (per band group)", dedup_reference.index_group,
                       [(output, g, folder) for g in range(run.band_groups)], workers)]  # fmt: skip
    shards = np.linspace(0, run.shards - 1, min(sample, run.shards)).round().astype(int)
    measured = fan_out("apply: load all edges + union-find", dedup_reference.apply_decisions,
                       [(output, int(s), folder) for s in shards], workers)  # fmt: skip
    per_unit = measured.seconds * workers / measured.units
    results.append(Measured(measured.step, run.shards, per_unit * run.shards / workers,
                            measured.peak_mb,
                            f"extrapolated from {measured.units} units "
                            f"({per_unit:.2f} s each)"))  # fmt: skip
    return results


def run_new(output: str, workers: int) -> list[Measured]:
    results = []
    for step in index.dedup_steps(output):
        results.append(fan_out(f"{step.name}", step.function,
                               [(output, q) for q in range(step.units)], workers))  # fmt: skip
    run = load_run(output)
    results.append(fan_out("apply: own shard's decisions", _new_apply,
                           [(output, s) for s in range(run.shards)], workers))  # fmt: skip
    return results


def _new_apply(output: str, shard: int) -> int:
    return len(index.shard_decisions(load_run(output), shard))


def check_same(output: str, shards: list[int]) -> bool:
    """The sampled shards' decisions, former and partitioned: identical."""
    run = load_run(output)
    folder = str(Path(output).parent / "old-groups")
    decisions = dedup_reference.load_decisions(run, folder)
    for shard in shards:
        old = {}
        for reason, decided in (("exact_duplicate", decisions.exact),
                                ("near_duplicate", decisions.near)):  # fmt: skip
            old.update({r: (reason, decisions.ids[k]) for r, k in decided.items()
                        if r >> 32 == shard})  # fmt: skip
        if old != index.shard_decisions(run, shard):
            return False
    return True


def table(rows: list[Measured], title: str) -> str:
    lines = [title, f"  {'step':<38}{'units':>7}{'wall s':>10}{'peak RSS/worker MB':>21}"]
    for row in rows:
        lines.append(f"  {row.step:<38}{row.units:>7}{row.seconds:>10.1f}{row.peak_mb:>21.0f}"
                     + (f"  ({row.note})" if row.note else ""))  # fmt: skip
    total = sum(r.seconds for r in rows)
    peak = max(r.peak_mb for r in rows)
    lines.append(f"  {'total':<38}{'':>7}{total:>10.1f}{peak:>21.0f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2_000_000)
    parser.add_argument("--docs-per-shard", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=None, help="default: the plan's")
    parser.add_argument("--old-apply-sample", type=int, default=8)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp)")
    parser.add_argument("--skip-old", action="store_true")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    shutil.rmtree(root / "out", ignore_errors=True)
    shutil.rmtree(root / "old-groups", ignore_errors=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; python {platform.python_version()}")  # fmt: skip
    started = time.monotonic()
    docs, planted = generate(args.docs, args.seed)
    order = np.random.default_rng(args.seed + 1).permutation(len(docs))
    output, _ = write_run(str(root / "out"), docs, args.docs_per_shard, args.partitions, order)
    del docs
    run = load_run(output)
    print(f"{args.docs:,} documents in {run.shards} shards, {run.partitions} partitions, "
          f"{run.bands}x{run.rows} bands; planted {planted}; "
          f"written in {time.monotonic() - started:.0f} s under {root}")  # fmt: skip
    idle = idle_worker_mb()
    print(f"idle spawned worker: {idle:.0f} MB RSS; {args.workers} workers per fan-out")
    new = run_new(output, args.workers)
    summary = index.dedup_summary(run)
    print(table(new, "partitioned (this change)"))
    rounds = sum(1 for r in new if r.step.startswith("large-"))
    print(f"  {rounds} large-star rounds; exact groups {summary.exact_groups:,} "
          f"({summary.exact_removed:,} removed), near clusters {summary.near_clusters:,} "
          f"({summary.near_removed:,} removed, largest {summary.largest_near_cluster}), "
          f"{summary.candidate_pairs:,} candidate pairs, {summary.verified_pairs:,} verified; "
          f"sizes {summary.near_cluster_sizes}")  # fmt: skip
    if not args.skip_old:
        old = run_old(output, args.workers, args.old_apply_sample)
        print(table(old, "former (before this change)"))
        shards = np.linspace(0, run.shards - 1, min(args.old_apply_sample, run.shards))
        same = check_same(output, sorted({int(s) for s in shards.round()}))
        print(f"  sampled shards' decisions identical: {same}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
