"""Benchmark packing and the loader: pack MB/s per core, loader tokens/s from local files and
from SeaweedFS S3.

    .venv/bin/python tests/benchmarks/bench_loader.py [--mb 100] [--workers N]
        [--seq-len 2048] [--micro-batch 8] [--seconds 10] [--no-s3] [--dir D]

1. Corpus: real Python files (stdlib, then site-packages; see bench_tokenizer.py) of --mb MB as
   a curated folder; a small tokenizer (vocab 8192, 2 MB sample) trained once by the CLI.
2. Pack: `tritter pack` via the CLI with --workers N. MB/s per core is the text tokenized
   divided by the summed per-shard seconds (each shard runs on one core); wall MB/s is the
   whole command; MB per CPU-second divides by CPU time (of the shard work as the manifest
   records it, and of the whole command with its workers), which stays meaningful when other
   jobs share the cores.
3. Loader: `TokenLoader` (rank 0 of 1, shuffled train split) iterated for --seconds from the
   local folder, then from a `weed mini` S3 server on loopback after uploading the folder;
   tokens/s counts input tokens of the batches yielded (one process, default IO threads; S3
   once more under `loader.data_loader(num_workers=--s3-workers)`).

Timings depend on what else the machine runs: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.benchmarks.bench_tokenizer import python_files  # noqa: E402
from tests.support.curated import write_curated  # noqa: E402


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run the CLI; returns (wall seconds, CPU seconds of it and all its worker processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "tritter.cli", *args],
        check=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.time() - started, cpu


def loader_rate(
    uri: str, seq_len: int, micro_batch: int, seconds: float, cache: Path, workers: int = 0
) -> tuple:
    from tritter.loader import TokenLoader

    loader = TokenLoader(
        uri, split="train", seq_len=seq_len, micro_batch_size=micro_batch, seed=1, cache_dir=cache
    )
    iterator = iter(loader.data_loader(num_workers=workers) if workers else loader)
    next(iterator)  # opening shards and the first requests are not the steady state
    batches, started = 0, time.time()
    while time.time() - started < seconds:
        inputs, _ = next(iterator)
        batches += 1
    elapsed = time.time() - started
    return batches * inputs.numel() / elapsed, batches, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100.0, help="curated Python MB to pack")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-s3", action="store_true", help="skip the SeaweedFS measurement")
    parser.add_argument("--s3-workers", type=int, default=2, help="DataLoader workers for S3")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-loader-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")

    curated = work / "curated"
    if not (curated / "_manifest.json").exists():
        docs = python_files(int(args.mb * 1e6))
        write_curated(str(curated), docs, shards=max(2, int(args.mb // 8)))
        print(f"curated: {len(docs)} documents, {sum(d['bytes'] for d in docs) / 1e6:.1f} MB")
    tokenizer = work / "tokenizer"
    if not (tokenizer / "_manifest.json").exists():
        cli("tokenizer", "train", "--input", str(curated), "--output", str(tokenizer),
            "--vocab-size", "8192", "--sample-bytes", "2000000", "--threads", "2")  # fmt: skip

    tokens = work / f"tokens-w{args.workers}"
    shutil.rmtree(tokens, ignore_errors=True)  # always measure a full pack, never a no-op
    wall, cpu = cli("pack", "--input", str(curated), "--tokenizer", str(tokenizer),
               "--output", str(tokens), "--seq-len", str(args.seq_len), "--mix", "python=1",
               "--shard-tokens", "4000000", "--workers", str(args.workers))  # fmt: skip
    counts = json.loads((tokens / "_manifest.json").read_text())["counts"]
    mb = counts["text_bytes"] / 1e6
    total_tokens = sum(counts["tokens_total"].values())
    print(
        f"pack: {mb:.1f} MB of text → {total_tokens / 1e6:.1f}M tokens in {counts['shards']} "
        f"shards; {mb / counts['pack_seconds']:.2f} MB/s per core (summed shard time "
        f"{counts['pack_seconds']:.1f}s), wall {wall:.1f}s = {mb / wall:.2f} MB/s with "
        f"{args.workers} workers (incl. interpreter start and planning); "
        f"{mb / counts['pack_cpu_seconds']:.2f} MB per CPU-second of shard work "
        f"({counts['pack_cpu_seconds']:.1f} CPU-s), {mb / cpu:.2f} MB per CPU-second over the "
        f"whole command ({cpu:.1f} CPU-s)"
    )

    rate, batches, elapsed = loader_rate(
        str(tokens), args.seq_len, args.micro_batch, args.seconds, work / "cache"
    )
    print(
        f"loader, local files: {rate / 1e6:.2f}M tokens/s ({batches} batches of "
        f"{args.micro_batch}×{args.seq_len} in {elapsed:.1f}s)"
    )
    if args.no_s3:
        return

    from tests.support.seaweed import SeaweedS3
    from tritter import storage

    shutil.rmtree(work / "seaweedfs", ignore_errors=True)  # a fresh server and bucket
    server = SeaweedS3(work / "seaweedfs").start()
    try:
        os.environ.update(server.env)
        storage.reset_clients()
        bucket = server.create_bucket("bench-loader")
        started = time.time()
        for path in sorted(p for p in tokens.rglob("*") if p.is_file()):
            storage.upload_file(path, storage.join(bucket, "tokens", str(path.relative_to(tokens))))
        print(f"uploaded the tokens folder to SeaweedFS in {time.time() - started:.1f}s")
        rate, batches, elapsed = loader_rate(
            f"{bucket}/tokens", args.seq_len, args.micro_batch, args.seconds, work / "s3-cache"
        )
        print(
            f"loader, SeaweedFS S3 (byte-range GETs): {rate / 1e6:.2f}M tokens/s ({batches} "
            f"batches in {elapsed:.1f}s)"
        )
        rate, batches, elapsed = loader_rate(
            f"{bucket}/tokens", args.seq_len, args.micro_batch, args.seconds, work / "s3-cache",
            workers=args.s3_workers,
        )  # fmt: skip
        print(
            f"loader, SeaweedFS S3 with data_loader(num_workers={args.s3_workers}): "
            f"{rate / 1e6:.2f}M tokens/s ({batches} batches in {elapsed:.1f}s)"
        )
    finally:
        server.stop()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
