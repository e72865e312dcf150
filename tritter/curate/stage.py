"""The curate stage: an input source → curated/ (`tritter curate`).

Locally, `run` does every step in one process pool (`concurrent.futures` playing the role of
the pipeline's `ParallelFor`): plan, process-shard per work unit, the dedup fan-outs of
`index.dedup_steps` (per shard, then per hash partition, rounds until the clusters converge),
apply-shard per work unit, finalize. In a pipeline the same step functions fan out:
`plan.plan`, `process.process_shard`, `index.dedup_index` (which drives the dedup steps),
`apply.apply_shard`, `finalize.finalize`. One pool serves every fan-out, so workers (and the
benchmark index they inherit) start once.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from tritter import log, progress
from tritter.curate.apply import apply_shard
from tritter.curate.config import CurateConfig
from tritter.curate.finalize import finalize
from tritter.curate.index import dedup_steps
from tritter.curate.plan import plan
from tritter.curate.process import process_shard, warm_up
from tritter.manifest import Record
from tritter.run_folder import CURATE_MANIFEST, CurateInputs, CurateManifest
from tritter.workers import process_pool

_log = log.get_logger("curate")


def fingerprint(config: CurateConfig, inputs: CurateInputs) -> str:
    """What the output depends on: the config's settings and the input listing's identity."""
    return CURATE_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> CurateManifest | None:
    """The finished output's manifest; None while the output is unfinished."""
    return CURATE_MANIFEST.read(output)


@dataclass(frozen=True)
class Outcome:
    """A local run: its manifest and how it went (what the CLI summary reports)."""

    manifest: CurateManifest
    up_to_date: bool  # the output was already complete: nothing was done
    workers: int
    seconds: float


def run(config: CurateConfig) -> CurateManifest:
    """Curate `config.input` into `config.output`; a no-op on a finished output."""
    return execute(config).manifest


def execute(config: CurateConfig) -> Outcome:
    """`run`, also saying whether there was anything to do, with how many workers, how fast."""
    started = time.monotonic()
    planned = plan(config)
    out = config.output
    if planned.complete:
        log.event(_log, "output already complete; nothing to do", output=out)
        found = CURATE_MANIFEST.require(out)
        return Outcome(found, up_to_date=True, workers=0, seconds=time.monotonic() - started)
    workers = min(config.workers or cpu_count(), max(planned.shards, 1))
    warm_up(config)
    pool: ProcessPoolExecutor | None = None
    if workers > 1:
        # fork: the workers inherit what warm_up loaded (the benchmark index, permutations).
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = process_pool(workers, method)  # killed with this process (tritter.workers)
    try:
        _run_all(pool, process_shard, out, range(planned.shards), "process shards")
        for step in dedup_steps(out):  # dedup fan-outs; the rounds are decided as they finish
            _run_all(pool, step.function, out, range(step.units), step.what)
        _run_all(pool, apply_shard, out, range(planned.shards), "apply shards")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    result = finalize(out)
    return Outcome(result, up_to_date=False, workers=workers, seconds=time.monotonic() - started)


def cpu_count() -> int:
    """CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _run_all(
    pool: Executor | None,
    function: Callable[[str, int], Record],
    out: str,
    indices: Iterable[int],
    what: str,
) -> None:
    indices = list(indices)
    if pool is None:
        for index in progress.track(indices, total=len(indices), desc=what):
            function(out, index)
        return
    futures = [pool.submit(function, out, i) for i in indices]
    try:
        for future in progress.track(as_completed(futures), total=len(futures), desc=what):
            future.result()  # re-raises a worker's TritterError here
    except BaseException:
        for future in futures:
            future.cancel()
        raise
