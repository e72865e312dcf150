"""Curation steps: plan → process every shard → dedup index (units that together drive every
dedup fan-out and round, `tritter.curate.index.dedup_index`) → apply per shard → finalize, each
fan-out followed by a barrier that checks every unit reported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tritter.config import validate
from tritter.curate import apply, index, process
from tritter.curate import finalize as finalize_step
from tritter.curate import plan as plan_step
from tritter.curate.config import CurateConfig
from tritter.curate.plan import load_run
from tritter.deploy.params import PipelineParams, split_list
from tritter.jobs.settings import check_all_done, open_unit, prepare, run_folder, work_units


def config(params: PipelineParams) -> CurateConfig:
    return validate(
        CurateConfig,
        {
            "input": params.source,
            "output": run_folder(params).curated,
            "languages": split_list(params.languages),
            "min_stars": params.min_stars,
            "semantic_dedup": params.semantic_dedup.strip() or None,
            "semantic_threshold": params.semantic_threshold,
        },
    )


def plan(settings: str) -> list[str]:
    """Enumerate the source; the process-shard units (one no-op unit when already curated)."""
    planned = plan_step.plan(config(prepare(settings)))
    return work_units(settings, max(planned.shards, 1))


def _unit(unit: str, step: Callable[[str, int], Any]) -> int:
    """Run one fanned-out unit (`step(curated_folder, index)`); a no-op once curation is done."""
    params, number = open_unit(unit)
    curated = run_folder(params).curated
    if load_run(curated) is not None:
        step(curated, number)
    return number


def _barrier(settings: str, done: list[Any], label: str, expected: str, following: str) -> list:
    """After a fan-out: every `expected` unit (a planned-run attribute) reported; returns the
    next fan-out's units (`following` of them)."""
    run = load_run(run_folder(prepare(settings)).curated)
    if run is None:
        return work_units(settings, 1)  # already curated: one no-op unit
    check_all_done(label, done, getattr(run, expected))
    return work_units(settings, getattr(run, following))


def process_unit(unit: str) -> int:
    return _unit(unit, process.process_shard)


def groups(settings: str, processed: list[Any]) -> list[str]:
    """Barrier after every shard is processed: the dedup-index units."""
    return _barrier(settings, processed, "curate process", "shards", "dedup_units")


def index_unit(unit: str) -> int:
    return _unit(unit, index.dedup_index)


def apply_units(settings: str, indexed: list[Any]) -> list[str]:
    """Barrier after every dedup-index unit finished: the apply-shard units."""
    return _barrier(settings, indexed, "curate dedup index", "dedup_units", "shards")


def apply_unit(unit: str) -> int:
    return _unit(unit, apply.apply_shard)


def finalize(settings: str, applied: list[Any]) -> str:
    """Barrier after every shard is applied, then the manifest; returns the curated folder."""
    curated = run_folder(prepare(settings)).curated
    run = load_run(curated)
    if run is not None:
        check_all_done("curate apply", applied, run.shards)
    finalize_step.finalize(curated)
    return curated
