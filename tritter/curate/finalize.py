"""Step 5, finalize: check that every input document is accounted for, write `_manifest.json`
(last: only now is the output complete), then remove `_work/` (it holds a second copy of every
kept document) unless `--keep-work`.

The manifest is built from the `tritter.run_folder` curate records, so it holds exactly the
keys its readers (pack, tokenizer, the report) expect.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

from tritter import config as config_lib
from tritter import log, manifest, storage
from tritter.curate.apply import ApplyStats, applied_shards
from tritter.curate.index import DedupSummary, dedup_summary
from tritter.curate.plan import Run, inputs_of, load_run
from tritter.curate.process import ShardStats, pii_totals, processed_shards, repo_signal_totals
from tritter.curate.rules import REASONS
from tritter.errors import TritterError
from tritter.run_folder import (
    CURATE_MANIFEST,
    WORK,
    CurateCounts,
    CurateExtra,
    CurateManifest,
    CurateThroughput,
    DedupCounts,
    LicensePolicyRecord,
)

_log = log.get_logger("curate")

PARQUET_SCHEMA = "tritter.schema.CURATED_SCHEMA"
JSONL_SCHEMA = (
    "seed JSONL (text, language, quality_score, quality_label, explanation, source, license, stars)"
)


def finalize(output: str) -> CurateManifest:
    """Publish the manifest of a fully applied run; on a finished output, return its manifest."""
    run = load_run(output)
    if run is None:  # finished, and _work/ already removed
        return CURATE_MANIFEST.require(output)
    result = CURATE_MANIFEST.current(output, run.fingerprint)
    if result is None:
        result = _publish(run)
    if not run.config.keep_work:
        storage.delete_prefix(storage.join(output, WORK))
    return result


def _publish(run: Run) -> CurateManifest:
    processed = processed_shards(run)
    applied = applied_shards(run)
    summary = dedup_summary(run)
    counts = _counts(run, processed, applied, summary)
    if counts.kept_documents == 0:
        # Every later stage would fail on an empty corpus; say why here, with the reasons.
        reasons = ", ".join(f"{reason} {n}" for reason, n in counts.dropped.items()) or "none"
        hint = (
            "; no license found: add a LICENSE file or run `tritter curate --assume-license SPDX`"
            if "license_unknown" in counts.dropped
            else ""
        )
        raise TritterError(
            f"{run.source.label}: curation kept none of {counts.input_documents} input "
            f"documents (dropped: {reasons}){hint}"
        )
    result: CurateManifest = manifest.Manifest(
        stage=CURATE_MANIFEST.stage,
        fingerprint=run.fingerprint,
        inputs=inputs_of(run.source, run.listing_sha256, run.config),
        config=config_lib.dump(run.config),
        counts=counts,
        files=[manifest.FileEntry(**f.model_dump()) for a in applied for f in a.files],
        extra=_extra(run, processed, counts.read_bytes),
    )
    manifest.write_manifest(run.output, result)
    log.event(_log, "curation finished", output=run.output, kept=counts.kept_documents,
              dropped=counts.dropped_documents,
              near_cluster_sizes=summary.near_cluster_sizes)  # fmt: skip
    return result


def _merge(counters: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return dict(sorted(total.items()))


def _counts(
    run: Run,
    processed: list[ShardStats],
    applied: list[ApplyStats],
    summary: DedupSummary,
) -> CurateCounts:
    dropped = _merge([s.dropped for s in processed] + [a.dropped for a in applied])
    input_documents = sum(s.input_documents for s in processed)
    kept = sum(a.kept for a in applied)
    if input_documents != kept + sum(dropped.values()):
        raise TritterError(
            f"{run.output}: accounting error: {input_documents} inputs != {kept} kept + "
            f"{sum(dropped.values())} dropped"
        )
    unknown = sorted(set(dropped) - set(REASONS))
    if unknown:  # a reason no rule declares would silently vanish from the ordered counts
        raise TritterError(f"{run.output}: drop reasons no rule declares: {', '.join(unknown)}")
    return CurateCounts(
        input_documents=input_documents,
        input_bytes=sum(s.input_bytes for s in processed),
        read_bytes=sum(s.read_bytes for s in processed),
        kept_documents=kept,
        kept_bytes=sum(a.kept_bytes for a in applied),
        dropped_documents=sum(dropped.values()),
        dropped={reason: dropped[reason] for reason in REASONS if reason in dropped},
        labels=_merge(a.labels for a in applied),
        negatives=_merge(a.negatives for a in applied),
        languages=_merge(a.languages for a in applied),
        subsets=_merge(a.subsets for a in applied),
        licenses=_merge(a.licenses for a in applied),
        dedup=_dedup_counts(run, summary),
        shards=run.shards,
        pii=pii_totals(processed),
        repo_signals=repo_signal_totals(processed),
    )


def _dedup_counts(run: Run, summary: DedupSummary) -> DedupCounts:
    return DedupCounts(
        exact_groups=summary.exact_groups,
        exact_removed=summary.exact_removed,
        largest_exact_group=summary.largest_exact_group,
        near_clusters=summary.near_clusters,
        near_removed=summary.near_removed,
        largest_near_cluster=summary.largest_near_cluster,
        candidate_pairs=summary.candidate_pairs,
        verified_pairs=summary.verified_pairs,
        threshold=run.config.dedup_threshold,
        num_perm=run.config.num_perm,
        bands=run.bands,
        rows=run.rows,
        semantic=summary.semantic,
    )


def _extra(run: Run, processed: list[ShardStats], read_bytes: int) -> CurateExtra:
    seconds = time.time() - run.started
    return CurateExtra(
        source=run.source.to_json(),
        license_policy=LicensePolicyRecord(
            allowed=sorted(run.policy.allowed),
            allow_unknown=run.policy.allow_unknown,
            assume_license=run.config.assume_license,
            source_declaration=run.source.declaration_note or None,
        ),
        format=run.config.format,
        schema=PARQUET_SCHEMA if run.config.format == "parquet" else JSONL_SCHEMA,
        throughput=CurateThroughput(
            seconds=round(seconds, 2),
            read_mb_per_second=round(read_bytes / 1e6 / max(seconds, 1e-9), 2),
            process_seconds=round(sum(s.seconds for s in processed), 2),
        ),
        input_files=run.input_files,
        listing_sha256=run.listing_sha256,
    )
