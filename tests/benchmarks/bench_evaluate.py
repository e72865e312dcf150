"""Benchmark the evaluation stage: sandbox overhead per sample and generation throughput.

    .venv/bin/python tests/benchmarks/bench_evaluate.py [--samples 60] [--presets tiny,125m]
                                                       [--skip-generation] [--device auto]

1. Sandbox overhead: wall time of `pass` run through `Sandbox.run` (fresh interpreter, namespaces,
   limits, privilege drop, teardown), median and p90 over --samples runs, one worker, from a
   process that has torch imported (as the evaluator does). Target: <= 50 ms per sample.
2. Sandbox throughput: the HumanEval reference solutions (164 programs) with the configured
   workers, programs per second.
3. Generation throughput of the evaluation loop (`Generator.generate`, batched with a KV cache)
   for each preset with random weights: prompt tokens + new tokens per second, greedy, fixed
   lengths (stop sequences and EOS disabled so every row decodes the full budget).

Timings depend on what else the machine runs: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import psutil
import torch

from tritter.evaluate.config import SandboxConfig
from tritter.evaluate.known_answers import check_references
from tritter.evaluate.sandbox import Sandbox
from tritter.evaluate.tasks import load_task


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {gpu}, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_sandbox(samples: int, workers: int) -> None:
    sandbox = Sandbox(SandboxConfig(workers=1))
    print(f"sandbox isolation: {sandbox.isolation} ({', '.join(sandbox.protections)})")
    for _ in range(3):
        sandbox.run("pass")
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        assert sandbox.run("pass").passed
        times.append(time.perf_counter() - started)
    times.sort()
    median, p90 = statistics.median(times), times[int(0.9 * (len(times) - 1))]
    verdict = "OK" if median <= 0.050 else "OVER TARGET"
    print(f"sandbox overhead per sample: median {median * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms "
          f"(target <= 50 ms: {verdict})")  # fmt: skip
    parallel = Sandbox(SandboxConfig(workers=workers))
    task = load_task("humaneval")
    started = time.perf_counter()
    results = check_references(task, parallel)
    seconds = time.perf_counter() - started
    passed = sum(r.passed for r in results)
    print(f"HumanEval references: {passed}/{len(results)} passed in {seconds:.1f} s with "
          f"{workers} workers = {len(results) / seconds:.1f} programs/s")  # fmt: skip


def bench_generation(presets: list[str], device: torch.device, batch: int, prompt: int,
                     new: int) -> None:  # fmt: skip
    from tritter.evaluate.generation import Decoding, Generator
    from tritter.model import PRESETS, build_model

    class FixedTokenizer:
        """Encodes every prompt to the same number of ids; decodes to a space per id."""

        bos_id, eos_id, pad_id = -1, -1, 0

        def __init__(self, vocab: int, length: int) -> None:
            self.vocab, self.length = vocab, length

        def encode(self, text: str) -> list[int]:
            generator = torch.Generator().manual_seed(len(text))
            return torch.randint(4, self.vocab, (self.length,), generator=generator).tolist()

        def decode(self, ids: list[int]) -> str:
            return " " * len(ids)

    for name in presets:
        config = PRESETS[name]
        model = build_model(config).to(device).eval()
        parameters = sum(p.numel() for p in model.parameters())
        tokenizer = FixedTokenizer(config.vocab_size, prompt)
        generator = Generator(model, tokenizer, device, config.max_position_embeddings)
        decoding = Decoding(temperature=0.0, max_new_tokens=new, batch_size=batch, stop=())
        generator.generate([f"warm-up {i}" for i in range(batch)],
                           Decoding(max_new_tokens=4, batch_size=batch))  # fmt: skip
        _, stats = generator.generate([f"prompt {i}" for i in range(batch)], decoding)
        print(f"generation {name} ({parameters / 1e6:.1f} M params, {device}): batch {batch}, "
              f"prompt {prompt}, new {new}: {stats.tokens_per_second:.1f} new tokens/s, "
              f"{stats.seconds:.2f} s for {stats.new_tokens} tokens")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--presets", default="tiny,125m")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--skip-sandbox", action="store_true")
    args = parser.parse_args()
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    print(f"machine: {machine()}")
    print(f"load average before: {load()}")
    if not args.skip_sandbox:
        bench_sandbox(args.samples, args.workers)
    if not args.skip_generation:
        bench_generation(args.presets.split(","), device, args.batch, args.prompt_tokens,
                         args.new_tokens)  # fmt: skip
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
