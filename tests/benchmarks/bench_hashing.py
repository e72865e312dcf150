"""Benchmark content hashing in training (issue #18 points 3 and 4): checkpoint files hashed
while they are written, and the token-shard check of a training run.

    .venv/bin/python tests/benchmarks/bench_hashing.py [--preset 125m] [--repeats 3]
                                                      [--python-mb 2] [--steps 20]

1. Checkpoint save: the real `Checkpointer` (background DCP write, commit marker) of `--preset`
   + AdamW state into a local folder, three ways: sha256 computed while writing (what training
   does now: `tritter.train.hashed_writer`), the same files read back and hashed after writing
   (what it did before), and no hashing (stub digests). Prints the background commit and the
   part that blocks training, median of `--repeats`.
2. Shard check: a real in-process `pretrain` stage (tiny model) on shards packed from
   `--python-mb` MB of standard-library Python, with `verify_shards` on and off; the check's
   own hashing time as a share of the stage time, and its throughput.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.* helpers when run as a script

from tests.benchmarks.bench_train import machine, make_trainer, random_batches  # noqa: E402


def bench_checkpoint(preset: str, repeats: int, root: str | None) -> None:
    from torch.distributed.checkpoint import FileSystemWriter

    from tritter import storage
    from tritter.train import checkpoint as checkpoint_module
    from tritter.train.checkpoint import Checkpointer
    from tritter.train.distributed import DistContext
    from tritter.train.hashed_writer import HashingWriter
    from tritter.train.store import CheckpointStore, sha256_files

    class ReadBackWriter(FileSystemWriter):
        """Before: write plainly, then read every file back from the page cache to hash it."""

        def digests(self) -> dict[str, str]:
            folder = Path(self.path)
            return sha256_files(folder, [p.name for p in folder.iterdir() if p.is_file()])

    class UnhashedWriter(FileSystemWriter):
        """No hashing at all (digests the commit accepts, never checked here)."""

        def digests(self) -> dict[str, str]:
            return {p.name: "0" * 64 for p in Path(self.path).iterdir() if p.is_file()}

    writers = {"while writing": HashingWriter, "read back": ReadBackWriter,
               "no hashing": UnhashedWriter}  # fmt: skip
    ctx = DistContext.init("cpu")
    trainer = make_trainer(ctx, preset, "ternary", 32, 1, 10)
    trainer.train_step(random_batches(trainer.model_config.vocab_size, 1, 32, ctx.device))
    side = {"model.json": trainer.model_config.model_dump_json().encode()}
    store = CheckpointStore(tempfile.mkdtemp(prefix="bench-hashing-ckpt-", dir=root))
    checkpointer = Checkpointer(store, ctx, keep_last=1, run_key="bench-hashing")
    results: dict[str, list[tuple[float, float]]] = {label: [] for label in writers}
    step = 0
    labels = list(writers)
    for repeat in range(repeats):
        # Rotated, so no variant always follows the same one (disk writeback, pruning).
        for label in labels[repeat % 3 :] + labels[: repeat % 3]:
            writer = writers[label]
            step += 1
            with mock.patch.object(checkpoint_module, "HashingWriter", writer):
                started = time.perf_counter()
                blocking = checkpointer.save(step, trainer.model, trainer.optimizer,
                                             {"step": step}, side)  # fmt: skip
                checkpointer.wait()
                results[label].append((time.perf_counter() - started, blocking))
    folder = Path(store.step_uri(step))
    size = sum(o.size for o in storage.list_objects(str(folder)))
    started = time.perf_counter()
    sha256_files(folder, [p.name for p in folder.iterdir()])
    hash_seconds = time.perf_counter() - started
    params = sum(p.numel() for p in trainer.model.parameters())
    print(f"checkpoint {preset} ({params / 1e6:.0f}M params + AdamW, {size / 2**20:,.0f} MiB) "
          f"in {store.root}, background commit, median of {repeats}:")  # fmt: skip
    medians = {}
    for label, runs in results.items():
        medians[label] = statistics.median(r[0] for r in runs)
        blocking = statistics.median(r[1] for r in runs)
        every = ", ".join(f"{r[0]:.2f}" for r in runs)
        print(
            f"  {label:>13}: commit {medians[label]:.2f} s ({every}), blocking training "
            f"{blocking:.3f} s"
        )
    base = medians["no hashing"]
    for label in ("read back", "while writing"):
        extra = medians[label] - base
        print(f"  sha256 {label}: {extra:+.2f} s over no hashing ({extra / base:+.0%})")
    print(f"  (sha256 of the folder alone, from the page cache: {hash_seconds:.2f} s, "
          f"{size / 2**20 / hash_seconds:,.0f} MiB/s)")  # fmt: skip
    shutil.rmtree(storage.local_path(store.root), ignore_errors=True)
    ctx.close()


def bench_shard_check(python_mb: float, steps: int) -> None:
    from tests.train.data import build
    from tritter.train import trainer as trainer_module
    from tritter.train.config import TrainConfig
    from tritter.train.stage import run as pretrain

    checks = []

    class Recorded(trainer_module.ShardCheck):  # keeps each run's check to read its timings
        def start(self) -> trainer_module.ShardCheck:
            checks.append(self)
            return super().start()

    with tempfile.TemporaryDirectory(prefix="bench-hashing-shards-") as tmp:
        data = build(Path(tmp) / "data", seq_len=128, python_bytes=int(python_mb * 1e6))
        shards = sum(p.stat().st_size for p in Path(data["tokens"]).rglob("*.tokens.npy"))
        seconds: dict[bool, float] = {}
        for run, verify in enumerate((True, False, True, False)):
            config = TrainConfig(
                data=data["tokens"], tokenizer=data["tokenizer"],
                output=f"{tmp}/run{run}/checkpoints", model="tiny", seq_len=128,
                micro_batch_size=4, max_steps=steps, checkpoint={"every": steps},
                val_every=0, metrics_port=0, verify_shards=verify,
            )  # fmt: skip
            started = time.perf_counter()
            with mock.patch.object(trainer_module, "ShardCheck", Recorded):
                pretrain(config)
            # The second run of each kind counts (the first warms the page cache and imports).
            seconds[verify] = time.perf_counter() - started
        hashed = checks[-1]
        share = hashed.seconds / seconds[True]
        print(f"token-shard check, tiny pretrain of {steps} steps on {shards / 2**20:.1f} MiB "
              f"of shards ({hashed.files} token files, one process):")  # fmt: skip
        print(
            f"  stage {seconds[True]:.2f} s with verify_shards, {seconds[False]:.2f} s "
            f"without ({(seconds[True] - seconds[False]) / seconds[False]:+.1%})"
        )
        print(f"  the check hashed {hashed.bytes / 2**20:.1f} MiB in {hashed.seconds:.3f} s on "
              f"its thread ({hashed.bytes / 2**20 / max(hashed.seconds, 1e-9):,.0f} MiB/s): "
              f"{share:.2%} of the stage time")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="125m", help="model preset of the checkpoint")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python-mb", type=float, default=2.0, help="curated Python, MB")
    parser.add_argument("--steps", type=int, default=20, help="pretrain steps of the shard run")
    parser.add_argument("--only", choices=("checkpoint", "shards"), help="run one part")
    parser.add_argument(
        "--root", help="folder for the checkpoints (e.g. /dev/shm: no disk noise; default: tmp)"
    )
    args = parser.parse_args()
    print(machine())
    if args.only != "shards":
        bench_checkpoint(args.preset, args.repeats, args.root)
    if args.only != "checkpoint":
        bench_shard_check(args.python_mb, args.steps)


if __name__ == "__main__":
    main()
