"""Benchmark pretraining: step throughput and MFU, checkpoint cost, CPU rank scaling.

    .venv/bin/python tests/benchmarks/bench_train.py [--presets 125m,700m] [--steps 10]
                                                    [--skip-checkpoint] [--skip-scaling]

1. Throughput: `Trainer.train_step` (the real step: real-token loss, accumulation, clipping,
   AdamW) on random tokens, one rank, after warm-up steps; tokens/s and MFU (model FLOPs per
   token × tokens/s ÷ peak). On a GPU: the presets at seq 2048 with bf16 autocast, ternary and
   dense, plus the ternary/dense ratio (targets: MFU >= 40 % for 700m; ternary >= 0.9 × dense).
   On CPU: tiny and 125m at short sequences (MFU against a nominal 50 GFLOP/s per thread).
2. Checkpoint: DCP save of a 125m model + AdamW state, local folder and SeaweedFS S3 (when the
   `weed` binary is installed): total seconds and the part that blocks training (the rest —
   upload, barrier, commit marker — overlaps the next steps).
3. Scaling on this CPU: `tritter pretrain --model tiny` with 1 and 2 local ranks (torchrun,
   gloo) at the same global batch, median tokens/s of the steps after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import torch

from tritter.model import resolve_config
from tritter.train.config import TrainConfig
from tritter.train.distributed import DistContext
from tritter.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.support / tests.train helpers when run as a script


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {gpu}, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def make_trainer(
    ctx: DistContext, preset: str, quantization: str, seq_len: int, micro: int, steps: int,
    compile_blocks: bool = False,
) -> Trainer:  # fmt: skip
    config = TrainConfig(
        data="-", tokenizer="-", output=tempfile.mkdtemp(prefix="bench-train-"), model=preset,
        quantization=quantization, seq_len=seq_len, micro_batch_size=micro, max_steps=steps,
        compile=compile_blocks, metrics_port=0,
    )  # fmt: skip
    trainer = Trainer(config, ctx)
    model_config = resolve_config(
        preset, quantization=quantization,
        max_position_embeddings=max(seq_len, resolve_config(preset).max_position_embeddings),
    )  # fmt: skip
    trainer.prepare_model(model_config, accumulation=1, total=steps)
    return trainer


def random_batches(vocab: int, micro: int, seq_len: int, device: torch.device):
    generator = torch.Generator().manual_seed(0)
    while True:
        yield (
            torch.randint(0, vocab, (micro, seq_len), generator=generator),
            torch.randint(0, vocab, (micro, seq_len), generator=generator),
        )


def bench_throughput(
    ctx: DistContext, preset: str, quantization: str, seq_len: int, micro: int, steps: int,
    warmup: int, compile_blocks: bool = False,
) -> dict:  # fmt: skip
    trainer = make_trainer(ctx, preset, quantization, seq_len, micro, steps + warmup,
                           compile_blocks)  # fmt: skip
    batches = random_batches(trainer.model_config.vocab_size, micro, seq_len, ctx.device)
    if ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        trainer.train_step(batches)
    records = [trainer.train_step(batches) for _ in range(steps)]
    result = {
        "preset": preset,
        "quantization": quantization,
        "seq_len": seq_len,
        "micro_batch": micro,
        "tokens_per_second": statistics.median(r["tokens_per_second"] for r in records),
        "mfu": statistics.median(r["mfu"] for r in records),
        "step_seconds": statistics.median(r["step_seconds"] for r in records),
        "loss": records[-1]["loss"],
        "peak_flops": trainer.peak,
    }
    if ctx.device.type == "cuda":
        result["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    del trainer
    if ctx.device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def print_throughput(rows: list[dict]) -> None:
    print(f"{'preset':<8} {'quant':<8} {'seq':>5} {'mb':>3} {'tok/s':>12} {'MFU':>7} "
          f"{'step s':>8} {'mem GiB':>8}")  # fmt: skip
    for row in rows:
        memory = f"{row['max_memory_gib']:.1f}" if "max_memory_gib" in row else "-"
        print(f"{row['preset']:<8} {row['quantization']:<8} {row['seq_len']:>5} "
              f"{row['micro_batch']:>3} {row['tokens_per_second']:>12,.0f} {row['mfu']:>7.1%} "
              f"{row['step_seconds']:>8.3f} {memory:>8}")  # fmt: skip
    by_key = {(r["preset"], r["quantization"]): r for r in rows}
    for preset in dict.fromkeys(r["preset"] for r in rows):
        ternary, dense = by_key.get((preset, "ternary")), by_key.get((preset, "dense"))
        if ternary and dense:
            ratio = ternary["tokens_per_second"] / dense["tokens_per_second"]
            print(f"{preset}: ternary / dense throughput = {ratio:.2f}x")


def bench_checkpoint(ctx: DistContext, preset: str) -> None:
    from tritter import storage
    from tritter.train.checkpoint import Checkpointer
    from tritter.train.store import CheckpointStore

    trainer = make_trainer(ctx, preset, "ternary", 32, 1, 10)
    trainer.train_step(random_batches(trainer.model_config.vocab_size, 1, 32, ctx.device))
    params = sum(p.numel() for p in trainer.model.parameters())
    targets = [("local", tempfile.mkdtemp(prefix="bench-ckpt-"))]
    server = None
    try:
        from tests.support.seaweed import SeaweedS3

        server = SeaweedS3(Path(tempfile.mkdtemp(prefix="bench-weed-"))).start()
        os.environ.update(server.env)
        storage.reset_clients()
        targets.append(("s3 (SeaweedFS)", server.create_bucket("bench") + "/run/checkpoints"))
    except Exception as err:  # no weed binary: local figures only
        print(f"(S3 skipped: {err})")
    try:
        for label, root in targets:
            store = CheckpointStore(root)
            checkpointer = Checkpointer(store, ctx, keep_last=2, run_key=f"bench-{label[:5]}")
            started = time.perf_counter()
            blocking = checkpointer.save(1, trainer.model, trainer.optimizer, {"step": 1}, {})
            checkpointer.wait()
            total = time.perf_counter() - started
            size = sum(o.size for o in storage.list_objects(store.step_uri(1)))
            print(f"checkpoint {preset} ({params / 1e6:.0f}M params + AdamW, "
                  f"{size / 2**20:,.0f} MiB) to {label}: {total:.2f} s total, "
                  f"{blocking:.2f} s blocking ({blocking / total:.0%}), "
                  f"{size / 2**20 / total:,.0f} MiB/s")  # fmt: skip
    finally:
        if server is not None:
            server.stop()


def bench_scaling(steps: int) -> None:
    from tests.train.data import build

    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        data = build(Path(tmp) / "data", seq_len=128)
        results = {}
        for nproc in (1, 2):
            output = Path(tmp) / f"run{nproc}" / "checkpoints"
            command = [
                sys.executable, "-m", "tritter.cli", "pretrain", "--data", data["tokens"],
                "--tokenizer", data["tokenizer"], "--output", str(output), "--model", "tiny",
                "--seq-len", "128", "--micro-batch-size", str(16 // nproc),
                "--global-batch-tokens", str(16 * 128), "--max-steps", str(steps),
                "--checkpoint.every", str(steps), "--val-every", "0", "--val-batches", "1",
                "--metrics-port", "0", "--nproc", str(nproc),
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                print(done.stderr[-3000:])
                raise SystemExit(f"scaling run with {nproc} ranks failed")
            records = [json.loads(line) for line in (output / "metrics.jsonl").open()]
            train = [r for r in records if r["kind"] == "train"][3:]  # after warm-up
            saves = [r for r in records if r["kind"] == "checkpoint"]
            results[nproc] = statistics.median(r["tokens_per_second"] for r in train)
            print(f"tiny, {nproc} rank(s), global batch {16 * 128} tokens: "
                  f"{results[nproc]:,.0f} tok/s (median), data wait "
                  f"{statistics.median(r['data_wait_ratio'] for r in train):.1%}, "
                  f"checkpoint {saves[-1]['save_seconds']:.2f} s, wall {wall:.0f} s")  # fmt: skip
        print(f"2 ranks / 1 rank: {results[2] / results[1]:.2f}x "
              f"(1 rank: {torch.get_num_threads()} threads; torchrun ranks: 1 each)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default=None, help="comma list (default: by device)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per config")
    parser.add_argument("--compile", action="store_true", help="torch.compile the blocks")
    parser.add_argument("--skip-checkpoint", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    print(machine())
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ctx = DistContext.init("auto")
    try:
        gpu = ctx.device.type == "cuda"
        if gpu:
            presets = (args.presets or "125m,700m").split(",")
            shapes = {"tiny": (2048, 16), "125m": (2048, 16), "700m": (2048, 8)}
            steps, warmup = args.steps or 10, 3
        else:
            presets = (args.presets or "tiny,125m").split(",")
            shapes = {"tiny": (256, 8), "125m": (128, 2), "700m": (64, 1)}
            steps, warmup = args.steps or 4, 2
        rows = []
        for preset in presets:
            seq_len, micro = shapes.get(preset, (2048 if gpu else 64, 4 if gpu else 1))
            for quantization in ("ternary", "dense"):
                rows.append(bench_throughput(ctx, preset, quantization, seq_len, micro, steps,
                                             warmup, args.compile))  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
        print_throughput(rows)
        if not args.skip_checkpoint:
            bench_checkpoint(ctx, "125m")
    finally:
        ctx.close()
    if not args.skip_scaling:
        bench_scaling(steps=20)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
