"""Benchmark `tritter curate` end to end on ≥ 100 MB of real code, and audit near-dup quality.

    .venv/bin/python tests/benchmarks/bench_curate.py [--min-mb 100] [--workers N] [--dir D]

1. Corpus: the running interpreter's standard library (PSF-2.0, allowed with
   --allow-license psf-2.0) plus whole packages from its site-packages, with their
   `*.dist-info` folders (the license metadata), hard-linked (or copied) under D/corpus until
   the source files the stage reads total at least --min-mb.
2. Runs the real CLI (`tritter curate --keep-work`) in a subprocess and samples the resident
   memory of its whole process tree; prints MB/s, MB/s per core and peak memory.
3. Near-dup audit against exact Jaccard of word 5-gram sets (computed with plain Python sets
   and a regex tokenizer, independently of the stage's numpy hashing):
   * precision: every verified near-duplicate edge the stage produced (sampled when many);
   * recall: an independent high-recall probe (256 other permutations, LSH tuned for
     Jaccard 0.5) proposes candidate pairs; those whose exact Jaccard reaches the threshold
     are the true near-duplicates, and recall is the share the stage collapsed into one
     cluster (same exact group or same near-duplicate cluster).

Timings depend on what else the machine runs: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq

from tritter.curate import dedup, languages, minhash
from tritter.curate.index import read_edges

# Large, permissively licensed pure-Python packages, in the order they are added.
PACKAGES = ("transformers", "sympy", "pandas", "scipy", "networkx", "jinja2", "pygments")
WORD = re.compile(rb"[a-z0-9_\x80-\xff]+")


def link_tree(source: Path, target: Path) -> int:
    """Hard-link (or copy) a tree without bytecode caches; returns bytes of source code."""
    code = 0
    for folder, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "site-packages", "dist-packages")]
        destination = target / Path(folder).relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            path = Path(folder) / name
            if path.is_symlink():
                continue
            try:
                os.link(path, destination / name)
            except OSError:
                shutil.copy2(path, destination / name)
            if languages.language_of(name) and path.stat().st_size <= 500_000:
                code += path.stat().st_size
    return code


def build_corpus(root: Path, min_mb: float) -> tuple[float, list[str]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code = link_tree(stdlib, root / "python-stdlib")
    parts = ["python-stdlib"]
    site = Path(sysconfig.get_paths()["purelib"])
    for package in PACKAGES:
        if code >= min_mb * 1e6:
            break
        if not (site / package).is_dir():
            continue
        code += link_tree(site / package, root / "packages" / package)
        for info in site.glob(f"{package}-*.dist-info"):
            link_tree(info, root / "packages" / info.name)
        parts.append(package)
    return code / 1e6, parts


class MemorySampler(threading.Thread):
    """Peak resident memory of a process and its children, sampled every 250 ms (walking the
    process tree every 50 ms cost ~10 % of one of this machine's two cores, which the stage
    then lacked; its workers' footprints change over seconds, not milliseconds)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak_total = 0
        self.peak_single = 0
        self.done = threading.Event()
        self.cpu_seconds = 0.0

    def run(self) -> None:
        while not self.done.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
                sizes = []
                for process in processes:
                    with contextlib.suppress(psutil.Error):  # exited between the calls
                        sizes.append(process.memory_info().rss)
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_single = max(self.peak_single, max(sizes, default=0))
            except psutil.Error:
                pass
            self.done.wait(0.25)


def run_stage(corpus: Path, output: Path, workers: int) -> tuple[float, MemorySampler, str]:
    command = [sys.executable, "-m", "tritter.cli", "curate", "--input", str(corpus),
               "--output", str(output), "--allow-license", "psf-2.0", "--keep-work",
               "--workers", str(workers)]  # fmt: skip
    started = time.monotonic()
    cpu_before = _children_cpu_seconds()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = MemorySampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate(timeout=3600)
    wall = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"tritter curate failed:\n{stderr[-3000:]}")
    sampler.cpu_seconds = _children_cpu_seconds() - cpu_before
    return wall, sampler, stdout


def _children_cpu_seconds() -> float:
    """User + system CPU time of every waited-for descendant (the stage and its pool)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def shingles(text: str, n: int = 5) -> set[tuple[bytes, ...]]:
    words = WORD.findall(text.encode().lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def load_work(output: Path) -> tuple[list[str], dict[str, np.ndarray], int]:
    """Texts of every document that entered dedup (in ref order), the stage's dedup edges."""
    texts: list[str] = []
    refs: list[np.ndarray] = []
    for index, folder in enumerate(sorted((output / "_work/shards").iterdir())):
        table = pq.read_table(folder / "docs.parquet", columns=["text"])
        texts += table.column("text").to_pylist()
        refs.append(dedup.make_refs(index, table.num_rows))
    found = read_edges(str(output))
    merged = {"exact_member": found["exact"]["ref"], "exact_rep": found["exact"]["keeper"],
              "near_a": found["edges"]["u"], "near_b": found["edges"]["v"]}  # fmt: skip
    all_refs = np.concatenate(refs)
    index_of = {int(r): i for i, r in enumerate(all_refs.tolist())}
    as_index = {key: np.array([index_of[int(r)] for r in values.tolist()], dtype=np.int64)
                for key, values in merged.items()}  # fmt: skip
    return texts, as_index, len(texts)


def probe_candidates(texts: list[str]) -> set[tuple[int, int]]:
    """Independent high-recall LSH: 256 permutations (another seed), bands tuned for 0.5."""
    bands, rows = minhash.choose_bands(0.5, 256)
    perms = minhash.Permutations.create(256, seed=987_654_321)
    candidates: set[tuple[int, int]] = set()
    signatures = []
    for start in range(0, len(texts), 500):
        batch = [t.encode() for t in texts[start : start + 500]]
        grams = minhash.ngram_hashes(minhash.word_hashes(batch), 5)
        signatures.append(minhash.signatures(grams, perms))
    sigs = np.concatenate(signatures)
    keys = minhash.band_keys(sigs, bands, rows)
    for band in range(bands):
        order = np.argsort(keys[:, band], kind="stable")
        sorted_keys = keys[order, band]
        boundaries = np.flatnonzero(np.diff(sorted_keys)) + 1
        for group in np.split(order, boundaries):
            if group.size < 2 or keys[group[0], band] == 0:
                continue
            members = sorted(group.tolist())[:60]  # all pairs in a bucket (capped)
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    candidates.add((a, b))
    return candidates


def audit(output: Path, threshold: float, sample: int, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    texts, edges, count = load_work(output)
    cache: dict[int, set] = {}

    def sets(i: int) -> set:
        if i not in cache:
            cache[i] = shingles(texts[i])
        return cache[i]

    near = list(zip(edges["near_a"].tolist(), edges["near_b"].tolist(), strict=True))
    checked = rng.sample(near, min(sample, len(near)))
    precise = sum(jaccard(sets(a), sets(b)) >= threshold for a, b in checked)
    # The stage's clusters: exact groups and near-duplicate components over representatives.
    parent = list(range(count))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = [*zip(edges["exact_member"].tolist(), edges["exact_rep"].tolist(), strict=True), *near]
    for a, b in pairs:
        parent[find(a)] = find(b)
    candidates = sorted(probe_candidates(texts))
    probed = rng.sample(candidates, min(sample * 10, len(candidates)))
    true_pairs = [(a, b) for a, b in probed if jaccard(sets(a), sets(b)) >= threshold]
    found = sum(find(a) == find(b) for a, b in true_pairs)
    return {
        "documents": count,
        "edges": len(near),
        "edges_checked": len(checked),
        "precision": precise / len(checked) if checked else float("nan"),
        "probe_candidates": len(candidates),
        "probe_checked": len(probed),
        "true_pairs": len(true_pairs),
        "recall": found / len(true_pairs) if true_pairs else float("nan"),
    }


def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    memory = psutil.virtual_memory().total / 2**30
    return f"{model}, {cores} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-mb", type=float, default=100.0, help="source code to curate")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed)")
    parser.add_argument("--sample", type=int, default=2000, help="pairs checked for precision")
    args = parser.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-curate-"))
    try:
        shutil.rmtree(base / "corpus", ignore_errors=True)
        shutil.rmtree(base / "out", ignore_errors=True)
        code_mb, parts = build_corpus(base / "corpus", args.min_mb)
        print(f"machine: {machine()}")
        print(f"corpus: {code_mb:.1f} MB of source files ({', '.join(parts)})")
        load_before = os.getloadavg()
        wall, memory, stdout = run_stage(base / "corpus", base / "out", args.workers)
        load_after = os.getloadavg()
        manifest = json.loads((base / "out/_manifest.json").read_text())
        counts = manifest["counts"]
        read_mb = counts["read_bytes"] / 1e6
        rate = read_mb / wall
        print(stdout)
        print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} "
              "(other work on the machine slows the run)")  # fmt: skip
        print(f"wall {wall:.1f} s (interpreter start to exit) for {read_mb:.1f} MB read "
              f"({counts['input_documents']:,} documents)")  # fmt: skip
        print(f"throughput: {rate:.2f} MB/s, {rate / args.workers:.2f} MB/s per core "
              f"({args.workers} workers)  [target >= 5 MB/s per core: "
              f"{'met' if rate / args.workers >= 5 else 'NOT met'}]")  # fmt: skip
        print(
            f"CPU time: {memory.cpu_seconds:.1f} s of the stage's processes = "
            f"{read_mb / memory.cpu_seconds:.2f} MB per CPU-second (independent of load)"
        )
        print(f"peak memory: {memory.peak_total / 2**20:.0f} MiB whole process tree, "
              f"{memory.peak_single / 2**20:.0f} MiB largest process")  # fmt: skip
        threshold = manifest["config"]["dedup_threshold"]
        started = time.monotonic()
        quality = audit(base / "out", threshold, args.sample)
        print(f"near-dup audit at Jaccard >= {threshold} ({time.monotonic() - started:.0f} s): "
              f"precision {quality['precision']:.3f} on {quality['edges_checked']} of "
              f"{quality['edges']} edges; recall {quality['recall']:.3f} on "
              f"{quality['true_pairs']} true pairs among {quality['probe_checked']} probed "
              f"candidates  [target >= 0.95 / 0.95]")  # fmt: skip
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
