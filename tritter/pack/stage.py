"""The pack stage: curated/ + tokenizer/ → tokens/ (`tritter pack`).

Locally: plan, every output shard in a process pool, then finalize. In a pipeline the same
three steps fan out (`plan.make_plan`, `shard.pack_shard` per unit, `finalize.finalize`).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import as_completed

from tritter import log, progress
from tritter.pack.config import PackConfig
from tritter.pack.finalize import finalize
from tritter.pack.plan import make_plan
from tritter.pack.shard import pack_shard, read_result
from tritter.run_folder import PACK_MANIFEST, PackInputs, PackManifest
from tritter.workers import process_pool

_log = log.get_logger("pack")


def fingerprint(config: PackConfig, inputs: PackInputs) -> str:
    return PACK_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> PackManifest | None:
    return PACK_MANIFEST.read(output)


def run(config: PackConfig, check_hash: bool = True) -> PackManifest:
    """The whole pack; a finished output with the same inputs and config is only verified:
    every file's size and (unless `check_hash` is False) sha256 against the manifest."""
    plan, complete = make_plan(config, check_hash=check_hash)  # verifies a complete folder
    if complete:
        log.event(_log, "pack already complete: verified, skipping", output=config.output,
                  sha256_checked=check_hash)  # fmt: skip
        return PACK_MANIFEST.require(config.output)
    pending = [i for i in range(len(plan.shards)) if read_result(plan, i) is None]
    workers = max(1, min(config.workers or os.cpu_count() or 1, len(pending)))
    if workers == 1:
        for index in progress.track(pending, total=len(pending), desc="pack", unit="shard"):
            pack_shard(config.output, index)
    else:
        # spawn: workers start clean (no inherited S3 clients, threads or SentencePiece state).
        # Spawned workers start without the CLI's log handler: give them the parent's level so
        # per-shard events are not silently dropped. They die with this process
        # (tritter.workers): a killed pack leaves no worker writing shards behind it.
        level = logging.getLevelName(logging.getLogger("tritter").getEffectiveLevel())
        with process_pool(workers, "spawn", log.configure, (level,)) as pool:
            futures = [pool.submit(pack_shard, config.output, index) for index in pending]
            try:
                for future in progress.track(
                    as_completed(futures), total=len(futures), desc="pack", unit="shard"
                ):
                    future.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return finalize(config.output)
