"""Work units of the constitutional-data steps (generate, critique, revise, filter).

Each step is planned, run unit by unit, then finalized, like curation (`tritter.curate.plan`):

    _work/plan.json            the plan: fingerprint, the whole config, the inputs, unit count
    _work/units/00003.jsonl    unit 3's output rows (rows [3·unit_rows, 4·unit_rows) of input)
    _work/units/00003.json     its marker (`tritter.units`): counts, written after the rows

`plan` fixes the fingerprint (config settings + input identities). The same fingerprint resumes
an interrupted run (finished units are skipped) or is a no-op on a finished folder; another one
clears the old manifest first, then the outputs and `_work/`. Units need nothing but the output
folder and their index, so they can run in a local process pool (`run_local`) or fan out as
pipeline tasks; `finalize` concatenates the units' rows in order, writes the outputs whole and
the manifest last, and removes `_work/`. Every random choice is seeded per row
(`fewshot.row_rng`), so the split into units changes nothing but sampling streams.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from typing import Any, TypeVar

from pydantic import Field, ValidationError

from tritter import config as config_module
from tritter import log, manifest, progress, storage, units
from tritter.config import Config
from tritter.errors import TritterError
from tritter.manifest import Contract, Record
from tritter.run_folder import WORK
from tritter.workers import process_pool

_log = log.get_logger("synth")
C = TypeVar("C", bound=Config)


class StepPlan(Record):
    fingerprint: str
    stage: str
    config: dict[str, Any]  # the whole config, runtime fields included
    inputs: dict[str, Any]  # the stage's inputs record
    rows: int  # input rows
    units: int
    unit_rows: int
    started: float


class UnitMarker(Record):
    fingerprint: str
    rows: int  # output rows
    dropped: dict[str, int] = Field(default_factory=dict)
    principles: dict[str, int] = Field(default_factory=dict)
    flagged: dict[str, int] = Field(default_factory=dict)
    new_tokens: int = 0
    seconds: float = 0.0


def plan_uri(output: str) -> str:
    return storage.join(output, WORK, "plan.json")


def rows_uri(output: str, index: int) -> str:
    return storage.join(output, WORK, "units", f"{index:05d}.jsonl")


def marker_uri(output: str, index: int) -> str:
    return storage.join(output, WORK, "units", f"{index:05d}.json")


def plan(
    contract: Contract, config: Any, inputs: Record, rows: int, outputs: tuple[str, ...]
) -> tuple[StepPlan, bool]:
    """(the plan, whether the output is already complete). `outputs`: the step's file names,
    removed when a new plan replaces an old run."""
    out = config.output
    storage.ensure_writable(out)
    fingerprint = contract.fingerprint(config, inputs)
    count = max(1, -(-rows // config.unit_rows))
    record = StepPlan(
        fingerprint=fingerprint, stage=contract.stage, config=config_module.dump(config),
        inputs=inputs.model_dump(mode="json"), rows=rows, units=count,
        unit_rows=config.unit_rows, started=time.time(),
    )  # fmt: skip
    if contract.current(out, fingerprint) is not None:
        return record, True
    existing = read_plan(out)
    if existing is not None and existing.fingerprint == fingerprint:
        return existing, False  # resume: finished units are skipped
    storage.delete(manifest.manifest_uri(out))  # never a complete-looking folder with old files
    for name in outputs:
        storage.delete(storage.join(out, name))
    storage.delete_prefix(storage.join(out, WORK))
    storage.write_text(plan_uri(out), record.model_dump_json(indent=1) + "\n")
    log.event(_log, "planned", stage=contract.stage, output=out, rows=rows, units=count)
    return record, False


def read_plan(output: str) -> StepPlan | None:
    try:
        text = storage.read_text(plan_uri(output))
    except FileNotFoundError:
        return None
    try:
        return StepPlan.model_validate_json(text)
    except ValidationError:
        return None  # another version's or a damaged plan: planned over


def load_plan(output: str, kind: type[C], stage: str) -> tuple[StepPlan, C] | None:
    """The planned step in `output` and its config; None when the output is finished."""
    found = read_plan(output)
    if found is None or found.stage != stage:
        if manifest.read_manifest(output) is not None:
            return None
        raise TritterError(f"{output}: no {stage} plan ({WORK}/plan.json); run the plan first")
    return found, kind.model_validate(found.config)


def unit_range(found: StepPlan, index: int) -> range:
    if not 0 <= index < found.units:
        raise TritterError(f"unit index {index} out of range (0..{found.units - 1})")
    start = index * found.unit_rows
    return range(start, min(start + found.unit_rows, found.rows))


def done(output: str, fingerprint: str, index: int) -> UnitMarker | None:
    data = units.read(marker_uri(output, index), fingerprint)
    if data is None:
        return None
    try:
        return UnitMarker.model_validate(data)
    except ValidationError:
        log.event(_log, "unit marker of another shape: redoing the unit", level=logging.WARNING,
                  uri=marker_uri(output, index))  # fmt: skip
        return None


def finish_unit(
    output: str, fingerprint: str, index: int, rows: list[dict[str, Any]], **counts: Any
) -> UnitMarker:
    """Write the unit's rows whole, then its marker."""
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    storage.write_text(rows_uri(output, index), data)
    marker = UnitMarker(fingerprint=fingerprint, rows=len(rows), **counts)
    units.write(marker_uri(output, index), fingerprint, marker.model_dump(mode="json"))
    return marker


def collect(output: str, found: StepPlan) -> tuple[list[dict[str, Any]], list[UnitMarker]]:
    """Every unit's rows in unit order, and the markers; a one-line error naming the first
    unit not finished."""
    rows: list[dict[str, Any]] = []
    markers = []
    for index in range(found.units):
        marker = done(output, found.fingerprint, index)
        if marker is None:
            raise TritterError(f"{output}: unit {index} has not finished yet")
        markers.append(marker)
        text = storage.read_text(rows_uri(output, index))
        rows += [json.loads(line) for line in text.splitlines() if line.strip()]
    return rows, markers


def totals(markers: list[UnitMarker]) -> dict[str, Any]:
    dropped: Counter[str] = Counter()
    principles: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    for marker in markers:
        dropped.update(marker.dropped)
        principles.update(marker.principles)
        flagged.update(marker.flagged)
    return {
        "dropped": dict(sorted(dropped.items())),
        "principles": dict(sorted(principles.items())),
        "flagged": dict(sorted(flagged.items())),
        "new_tokens": sum(m.new_tokens for m in markers),
        "seconds": round(sum(m.seconds for m in markers), 3),
    }


def write_jsonl(output: str, name: str, rows: list[dict[str, Any]]) -> manifest.FileEntry:
    """One output file, written whole (atomically), and its manifest entry."""
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    uri = storage.join(output, name)
    storage.write_text(uri, data)
    return manifest.file_entry(output, uri, storage.sha256_bytes(data.encode()))


def clear_work(output: str) -> None:
    storage.delete_prefix(storage.join(output, WORK))


def run_local(
    output: str, count: int, function: Callable[[str, int], Any], workers: int, what: str
) -> None:
    """Run every unit: in this process (one model load for all), or in a pool of `workers`."""
    indices = list(range(count))
    workers = min(workers, count)
    if workers <= 1:
        for index in progress.track(indices, total=count, desc=what):
            function(output, index)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with process_pool(workers, method) as pool:  # killed with this process (tritter.workers)
        futures = [pool.submit(function, output, index) for index in indices]
        try:
            for future in progress.track(as_completed(futures), total=count, desc=what):
                future.result()  # a worker's TritterError surfaces here
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def read_jsonl(uri: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or None when the line is not JSON) of a JSONL file."""
    for number, line in enumerate(storage.read_text(uri).splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            yield number, None
