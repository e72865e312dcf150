"""What the three model-sampling steps (generate, critique, revise) share: publishing a finished
step's manifest and running a step to its end. Each step keeps its own prompts, parsing and
files; this is the bookkeeping around them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tritter import log, manifest
from tritter.manifest import Contract, Manifest, Record
from tritter.run_folder import SynthModelExtra, SynthStepCounts
from tritter.synth import backend, work
from tritter.synth.config import ModelStepConfig

_log = log.get_logger("synth")


def publish(
    contract: Contract,
    output: str,
    found: work.StepPlan,
    config: ModelStepConfig,
    inputs: type[Record],
    files: list[manifest.FileEntry],
    rows_out: int,
    markers: list[work.UnitMarker],
    source: str,
    chat_template_ignored: bool,
) -> Manifest:
    """Write the finished step's manifest (then clear its work folder); returns it."""
    totals = work.totals(markers)
    result = Manifest(
        stage=contract.stage,
        fingerprint=found.fingerprint,
        inputs=inputs.model_validate(found.inputs),
        config=found.config,
        counts=SynthStepCounts(
            rows_in=found.rows,
            rows_out=rows_out,
            dropped=totals["dropped"],
            principles=totals["principles"],
            units=found.units,
            new_tokens=totals["new_tokens"],
            seconds=totals["seconds"],
        ),
        files=files,
        extra=SynthModelExtra(
            model_kind=backend.model_kind(config.model),
            chat_template_ignored=chat_template_ignored,
            source=source,
            license=config.license,
        ),
    )
    manifest.write_manifest(output, result)
    work.clear_work(output)
    log.event(_log, f"{contract.stage} finished", output=output, rows=rows_out,
              **totals["dropped"])  # fmt: skip
    return result


def run(
    contract: Contract,
    config: ModelStepConfig,
    plan: Callable[[Any], tuple[work.StepPlan, bool]],
    run_unit: Callable[[str, int], work.UnitMarker | None],
    finalize: Callable[[str], Manifest],
) -> Manifest:
    """Plan, run every unit (skipping finished ones), finalize; a no-op on a finished output."""
    found, complete = plan(config)
    if complete:
        log.event(_log, f"{contract.stage} already done: skipping", output=config.output)
        return contract.require(config.output)
    work.run_local(config.output, found.units, run_unit, config.workers, contract.stage)
    return finalize(config.output)
