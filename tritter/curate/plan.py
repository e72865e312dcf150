"""Step 1, plan: enumerate the input into work units under `_work/`; and the planned `Run` that
every later step loads from there, so that they need nothing but the output folder.

Planning fixes the run's fingerprint (the config's settings and the identity of the input
listing). The same fingerprint again resumes an interrupted run, or is a no-op on a finished
output. A changed config or input makes a new fingerprint: `plan` then removes the old manifest
first (so the folder reads as incomplete), then the old shards and `_work/`, and starts over.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tritter import config as config_lib
from tritter import log, manifest, storage
from tritter.curate import encoder, filters, licenses, repos, sources
from tritter.curate.config import CurateConfig
from tritter.curate.work import WorkFolder, read_json, write_json
from tritter.errors import TritterError
from tritter.manifest import Record
from tritter.run_folder import CURATE_MANIFEST, WORK, CurateInputs

_log = log.get_logger("curate")


# Default dedup partitions: one per this many shards (a shard holds at most `shard_mb` of
# input), so a partition holds the dedup records of ~16 shards' documents whatever the corpus.
SHARDS_PER_PARTITION = 16
# Pipeline dedup-index units (each drives every dedup step, see `index.dedup_index`).
MAX_DEDUP_UNITS = 64


def dedup_layout(config: CurateConfig, shards: int) -> tuple[int, int]:
    """(dedup partitions, dedup-index units) for a run of `shards` work units."""
    partitions = config.dedup_partitions or max(1, -(-shards // SHARDS_PER_PARTITION))
    return partitions, min(partitions, MAX_DEDUP_UNITS)


@dataclass(frozen=True)
class Plan:
    """What `plan` reports: the sizes of the fan-outs, and whether there is anything to do."""

    output: str
    fingerprint: str
    shards: int  # work units of process-shard and apply-shard (one output shard each)
    dedup_units: int  # work units of dedup-index (the pipeline's dedup drivers)
    partitions: int  # hash partitions of every dedup step after the per-shard scatter
    complete: bool  # the output is already finished for this config and input

    @property
    def band_groups(self) -> int:
        """The former name of `dedup_units`."""
        return self.dedup_units


class PlanRecord(Record):
    """`_work/plan.json`."""

    fingerprint: str
    config: dict[str, Any]  # the whole CurateConfig, runtime fields included
    source: dict[str, Any]  # `sources.Source.to_json()`
    shards: int
    band_groups: int  # how process-shard groups band keys in dedup.npz
    partitions: int  # dedup hash partitions
    dedup_units: int  # dedup-index units
    bands: int
    rows: int
    input_files: int
    input_bytes: int
    listing_sha256: str
    started: float  # time.time() when planned: the manifest's throughput counts from here


@dataclass
class Run:
    """A planned run, as every step after `plan` sees it."""

    output: str
    fingerprint: str
    config: CurateConfig
    source: sources.Source
    shards: int
    band_groups: int  # how process-shard groups band keys in dedup.npz
    partitions: int  # dedup hash partitions (fan-out of every dedup step but the scatter)
    dedup_units: int  # dedup-index units (drivers of the dedup steps, see index.dedup_index)
    bands: int  # LSH bands of a MinHash signature
    rows: int  # signature rows per band
    policy: licenses.Policy
    input_files: int
    listing_sha256: str
    started: float

    @property
    def work(self) -> WorkFolder:
        return WorkFolder(self.output)

    @functools.cached_property
    def limits(self) -> filters.Thresholds:
        """The content filters' thresholds (built once per run, not once per document)."""
        config = self.config
        return filters.Thresholds(
            max_bytes=config.max_bytes,
            min_lines=config.min_lines,
            max_lines=config.max_lines,
            min_alnum_fraction=config.min_alnum_fraction,
            long_line_chars=config.long_line_chars,
            max_long_line_fraction=config.max_long_line_fraction,
        )

    def check_index(self, index: int, count: int, what: str) -> None:
        if not 0 <= index < count:
            raise TritterError(f"{self.output}: {what} index {index} out of range (0..{count - 1})")


def policy_for(config: CurateConfig, source: sources.Source) -> licenses.Policy:
    """The permissive allowlist, `--allow-license`, and the source's own declaration."""
    allowed = set(licenses.PERMISSIVE) | set(config.allow_license)
    if source.declared_license:
        allowed.add(source.declared_license)
    return licenses.Policy(frozenset(allowed), config.allow_unknown_license)


def read_plan(out: str) -> PlanRecord | None:
    """`_work/plan.json`, or None when there is none; a one-line error when it is unreadable."""
    uri = WorkFolder(out).plan
    data = read_json(uri)
    if data is None:
        return None
    try:
        return PlanRecord.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise TritterError(
            f"{uri}: unreadable curation plan ('{where}': {first['msg']}); run the plan step again"
        ) from err


def load_run(out: str) -> Run | None:
    """The run planned in `out`, or None when the output is already complete (and `_work/` is
    gone). A one-line error when there is neither a plan nor a finished output."""
    record = read_plan(out)
    if record is None:
        if manifest.read_manifest(out) is not None:
            return None
        raise TritterError(f"{out}: no curation plan ({WORK}/plan.json); run the plan step first")
    config = CurateConfig.model_validate(record.config)
    source = sources.Source.from_json(record.source)
    return Run(
        output=out,
        fingerprint=record.fingerprint,
        config=config,
        source=source,
        shards=record.shards,
        band_groups=record.band_groups,
        partitions=record.partitions,
        dedup_units=record.dedup_units,
        bands=record.bands,
        rows=record.rows,
        policy=policy_for(config, source),
        input_files=record.input_files,
        listing_sha256=record.listing_sha256,
        started=record.started,
    )


def inputs_of(source: sources.Source, listing_sha256: str, config: CurateConfig) -> CurateInputs:
    """What identifies the input: the name the user gave, the digest of what it listed and,
    with semantic dedup, the encoder's weights (their identity, not their path)."""
    encoder_id = encoder.identity(config.semantic_dedup) if config.semantic_dedup else None
    return CurateInputs(
        source=source.label, listing_sha256=listing_sha256, semantic_encoder=encoder_id
    )


def plan(config: CurateConfig) -> Plan:
    """Enumerate the source into work units (a no-op on a finished output; resumes a planned
    one)."""
    out = config.output
    storage.ensure_writable(out)
    if config.semantic_dedup:
        encoder.check(config.semantic_dedup)  # before any work, not after every shard
    source = sources.resolve(config)
    listing = sources.list_source(source, config)
    fingerprint = CURATE_MANIFEST.fingerprint(config, inputs_of(source, listing.digest, config))
    bands, rows = config.band_layout()
    groups = min(config.band_groups, bands)
    partitions, dedup_units = dedup_layout(config, len(listing.units))
    planned = Plan(out, fingerprint, len(listing.units), dedup_units, partitions, complete=False)
    finished = CURATE_MANIFEST.current(out, fingerprint)
    if finished is not None:
        # A relaunch trusts a finished folder only once every shard's sha256 matches.
        manifest.verify_files(out, finished)
        return dataclasses.replace(planned, complete=True)
    try:
        existing = read_plan(out)
    except TritterError:
        existing = None  # unreadable: planned over like any other run's leftovers
    if existing is not None and existing.fingerprint == fingerprint:
        # Resume an interrupted run with the layout it was planned with, and this launch's
        # runtime settings (e.g. a larger --dedup-max-rounds after a run that needed more).
        settings = config_lib.dump(config)
        if settings != existing.config:
            updated = existing.model_copy(update={"config": settings})
            write_json(WorkFolder(out).plan, updated.model_dump(mode="json"))
        return dataclasses.replace(
            planned, dedup_units=existing.dedup_units, partitions=existing.partitions
        )
    work = WorkFolder(out)
    clear_outputs(out)
    repos.attach(source, listing.units, config)  # each unit's slice of the repository table
    for index, unit in enumerate(listing.units):
        write_json(work.unit(index), unit)
    write_json(
        work.licenses,
        {
            "license_files": listing.license_files,
            "metadata_files": listing.metadata_files,
            "dist_owner": listing.dist_owner,
        },
    )
    record = PlanRecord(
        fingerprint=fingerprint,
        config=config_lib.dump(config),
        source=source.to_json(),
        shards=len(listing.units),
        band_groups=groups,
        partitions=partitions,
        dedup_units=dedup_units,
        bands=bands,
        rows=rows,
        input_files=listing.input_files,
        input_bytes=listing.input_bytes,
        listing_sha256=listing.digest,
        started=time.time(),
    )
    write_json(work.plan, record.model_dump(mode="json"))  # last: the plan is complete
    log.event(_log, "planned", output=out, shards=len(listing.units), partitions=partitions,
              dedup_units=dedup_units, bands=bands, rows=rows)  # fmt: skip
    return planned


def clear_outputs(out: str) -> None:
    """Remove a previous run's results: the manifest first, so the folder is never a complete
    output with stale shards, then shards, rejects and work files. Other files are left alone."""
    storage.delete(manifest.manifest_uri(out))
    for info in storage.list_objects(out, recursive=False):
        name = storage.basename(info.uri)
        if name.startswith("part-") and name.endswith((".parquet", ".jsonl")):
            storage.delete(info.uri)
    storage.delete_prefix(storage.join(out, "rejects"))
    storage.delete_prefix(storage.join(out, WORK))
