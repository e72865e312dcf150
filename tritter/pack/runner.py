"""`tritter pack` locally: plan, then every shard in a process pool, then finalize."""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

from tritter import log, manifest, progress
from tritter.pack.config import PackConfig
from tritter.pack.finalize import finalize, verify
from tritter.pack.plan import make_plan
from tritter.pack.shard import pack_shard, read_result

_log = log.get_logger("pack")


def run(config: PackConfig, check_hash: bool = False) -> manifest.Manifest:
    """The whole pack; a finished output with the same inputs and config is only verified."""
    plan, complete = make_plan(config)
    if complete:
        found = manifest.require_manifest(config.output, "pack")
        verify(config.output, found, check_hash=check_hash)
        log.event(_log, "pack already complete: verified, skipping", output=config.output)
        return found
    pending = [i for i in range(len(plan.shards)) if read_result(plan, i) is None]
    workers = max(1, min(config.workers or os.cpu_count() or 1, len(pending)))
    if workers == 1:
        for index in progress.track(pending, total=len(pending), desc="pack", unit="shard"):
            pack_shard(config.output, index)
    else:
        # spawn: workers start clean (no inherited S3 clients, threads or SentencePiece state).
        context = multiprocessing.get_context("spawn")
        # Spawned workers start without the CLI's log handler: give them the parent's level so
        # per-shard events are not silently dropped.
        level = logging.getLevelName(logging.getLogger("tritter").getEffectiveLevel())
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=log.configure,
            initargs=(level,),
        ) as pool:
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
