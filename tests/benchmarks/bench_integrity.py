"""Benchmark what content hashing costs (issue #18: checkpoints and shards trusted by sha256).

    .venv/bin/python tests/benchmarks/bench_integrity.py [--preset 125m] [--python-mb 20]
                                                        [--repeats 3]

1. Checkpoint load: a DCP save of `--preset` + AdamW state by the real `Checkpointer`, then
   loading the step (`load_model`) with and without the sha256 check. What hashing costs the
   save (computed while writing, against reading back and no hashing) is in
   tests/benchmarks/bench_hashing.py.
2. Shard reads: the curated Parquet check (`tritter.data.curated.verify`, one streaming pass)
   as a share of the tokenizer and pack stages that run it, on `--python-mb` MB of real
   standard-library Python; and a finished pack's relaunch with sha256 (the default) against
   sizes only (`--no-verify`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.* helpers when run as a script

from tests.benchmarks.bench_train import machine, make_trainer, random_batches  # noqa: E402


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def bench_checkpoint(preset: str, repeats: int) -> None:
    from tritter import storage
    from tritter.train import checkpoint as checkpoint_module
    from tritter.train.checkpoint import Checkpointer, load_model
    from tritter.train.distributed import DistContext
    from tritter.train.store import CheckpointStore, sha256_files

    ctx = DistContext.init("cpu")
    trainer = make_trainer(ctx, preset, "ternary", 32, 1, 10)
    trainer.train_step(random_batches(trainer.model_config.vocab_size, 1, 32, ctx.device))
    side = {"model.json": trainer.model_config.model_dump_json().encode()}
    root = tempfile.mkdtemp(prefix="bench-integrity-ckpt-")
    store = CheckpointStore(root)
    checkpointer = Checkpointer(store, ctx, keep_last=1, run_key="bench-integrity")
    step = 1
    checkpointer.save(step, trainer.model, trainer.optimizer, {"step": step}, side)
    checkpointer.wait()
    folder = Path(store.step_uri(step))
    size = sum(o.size for o in storage.list_objects(str(folder)))
    hash_seconds, _ = timed(sha256_files, folder, [p.name for p in folder.iterdir()])
    params = sum(p.numel() for p in trainer.model.parameters())
    print(f"checkpoint {preset} ({params / 1e6:.0f}M params + AdamW, {size / 2**20:,.0f} MiB), "
          f"median of {repeats}; sha256 alone: {hash_seconds:.2f} s, "
          f"{size / 2**20 / hash_seconds:,.0f} MiB/s")  # fmt: skip
    checked = [timed(load_model, store.step_uri(step))[0] for _ in range(repeats)]
    with mock.patch.object(checkpoint_module, "verify", lambda *a, **k: None):
        unchecked = [timed(load_model, store.step_uri(step))[0] for _ in range(repeats)]
    a, b = statistics.median(checked), statistics.median(unchecked)
    print(f"  load_model: {a:.2f} s with the sha256 check, {b:.2f} s without "
          f"({(a - b) / b:+.0%})")  # fmt: skip
    ctx.close()


def bench_shards(python_mb: float) -> None:
    from tests.support.curated import sample_corpus, write_curated
    from tritter.data import curated as curated_input
    from tritter.pack.config import PackConfig
    from tritter.pack.stage import run as pack
    from tritter.tokenizer.config import TokenizerConfig
    from tritter.tokenizer.stage import run as train_tokenizer

    with tempfile.TemporaryDirectory(prefix="bench-integrity-shards-") as tmp:
        curated = write_curated(f"{tmp}/curated", sample_corpus(int(python_mb * 1e6)), shards=8)
        size = sum(p.stat().st_size for p in Path(curated).glob("*.parquet"))
        verify_seconds = statistics.median(
            timed(curated_input.verify, curated_input.open_input(curated))[0] for _ in range(3)
        )
        print(f"curated input: 8 Parquet shards, {size / 2**20:.1f} MiB; sha256 check "
              f"{verify_seconds:.3f} s ({size / 2**20 / verify_seconds:,.0f} MiB/s)")  # fmt: skip
        tokenizer = f"{tmp}/tokenizer"
        seconds, _ = timed(train_tokenizer, TokenizerConfig(
            input=curated, output=tokenizer, vocab_size=4096, sample_bytes=5_000_000, threads=2,
        ))  # fmt: skip
        print(f"  tokenizer stage {seconds:.1f} s: the check is {verify_seconds / seconds:.1%}")
        config = PackConfig(input=curated, tokenizer=tokenizer, output=f"{tmp}/tokens",
                            seq_len=256, workers=2)  # fmt: skip
        seconds, _ = timed(pack, config)
        print(f"  pack stage {seconds:.1f} s: the check is {verify_seconds / seconds:.1%}")
        tokens = sum(p.stat().st_size for p in Path(f"{tmp}/tokens").rglob("*.npy"))
        hashed = statistics.median(timed(pack, config, check_hash=True)[0] for _ in range(3))
        sizes = statistics.median(timed(pack, config, check_hash=False)[0] for _ in range(3))
        print(f"finished pack relaunch ({tokens / 2**20:.1f} MiB of shards): {hashed:.2f} s "
              f"with sha256 (default), {sizes:.2f} s sizes only (--no-verify)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="125m", help="model preset of the checkpoint")
    parser.add_argument("--python-mb", type=float, default=20.0, help="curated Python, MB")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    bench_checkpoint(args.preset, args.repeats)
    bench_shards(args.python_mb)


if __name__ == "__main__":
    main()
