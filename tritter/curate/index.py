"""Step 3, dedup-index: exact and near-duplicate decisions, in fan-outs over hash partitions
(no unit reads every shard's per-document table, or the whole graph).

Each step is a work unit `f(output, index)` like process-shard: it reads its inputs by URI,
writes its outputs whole, then its marker `_work/dedup/STEP/NNNNN.json`. Records pass between
fan-outs in partitioned files (`work.write_slices`): unit q of the next step reads only slice q
of every file of the previous one. With P = `Run.partitions` and S shards:

1. `scatter` (S units): a shard's `dedup.npz` → its documents' exact records (hash, ref,
   preference, band keys) by hash partition; its preference attributes and ids (`attrs.npy`)
   and shingle offsets, both read back by row later.
2. `exact` (P): the exact-duplicate groups of one hash partition (whole groups: same hash, same
   partition). Writes each member's `exact_duplicate` decision (`DECISION`, naming the kept
   copy) routed to its shard, and the band entries of the representatives routed by band key.
3. `candidates` (P): the LSH buckets of one band-key partition → candidate pairs (each member
   with the bucket's smallest ref), routed by pair, so that every copy of a pair meets once.
4. `verify` (P): distinct candidate pairs, verified (`dedup_verify`: signature estimate, then
   exact Jaccard, reading only those documents' rows of the shards' arrays); the near-duplicate
   edges, routed to both endpoints' node partitions.
5. `components` (P per round, see `components`): large-star/small-star rounds until the
   clusters are stars, then `near`: each cluster's best member kept, the others'
   `near_duplicate` decisions routed to their shards.

With `--semantic-dedup`, the `semantic` module's fan-outs follow (embed, centroids, assign, and
one unit per k-means cluster), on the documents the steps above kept.

apply-shard then reads slice `shard` of the P exact and P near decision files, and of the K
semantic ones (`shard_decisions`), and finalize adds up the markers (`dedup_summary`).

`dedup_steps` yields the fan-outs in order, deciding the rounds from the markers as it goes: the
local stage runs each one in its process pool. A pipeline runs `dedup_index` instead: unit `k`
of `Run.dedup_units` drives the same steps, doing the units `q ≡ k (mod dedup_units)` of each
fan-out, then any unit nobody has claimed (`_work/dedup/claims/`), then waiting for the rest —
so the rounds need no pipeline loop, and fewer running pods only means less parallelism.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from tritter import log, storage, units
from tritter.curate import components, dedup, dedup_verify, semantic
from tritter.curate.components import DedupUnit, LargeStarStats, NearStats, open_unit
from tritter.curate.metrics import StepMetrics
from tritter.curate.plan import Run, load_run
from tritter.curate.process import ShardStats, processed_shards
from tritter.curate.work import (
    Marker,
    Skipped,
    all_markers,
    gather_slices,
    load_npz,
    npy_bytes,
    read_marker,
    write_marker,
    write_slices,
)
from tritter.errors import TritterError
from tritter.manifest import Record
from tritter.run_folder import SemanticDedupCounts

_log = log.get_logger("curate")
M = TypeVar("M", bound=Marker)

# A claimed unit of a dedup step is taken over by another dedup-index unit after this long
# without its marker (its claimant died, or is that slow: then the work is done twice, the same).
CLAIM_LEASE_SECONDS = 900.0
_POLL_SECONDS = (0.2, 5.0)  # waiting for other units' markers: first and longest pause


class ScatterStats(Marker):
    """`_work/dedup/scatter/NNNNN.json`."""

    shard: int
    documents: int
    seconds: float


class ExactStats(Marker):
    """`_work/dedup/exact/PPPPP.json`: the exact-duplicate groups of a hash partition."""

    partition: int
    documents: int
    groups: int  # groups with more than one member
    removed: int  # exact_duplicate decisions
    largest: int
    band_entries: int  # (band, key) entries of the representatives, routed on
    seconds: float


class CandidateStats(Marker):
    """`_work/dedup/candidates/PPPPP.json`."""

    partition: int
    band_entries: int
    pairs: int  # distinct pairs of this partition's buckets (a pair may recur in others)
    seconds: float


class VerifyStats(Marker):
    """`_work/dedup/verify/PPPPP.json`."""

    partition: int
    candidate_pairs: int  # distinct LSH candidate pairs routed here
    verified_pairs: int  # of those, pairs whose exact Jaccard reached the threshold
    seconds: float


class IndexStats(Marker):
    """`_work/dedup/index/KKKKK.json`: a dedup-index unit drove every dedup step to the end."""

    unit: int
    units_run: int  # step units this one ran itself (the others ran theirs, or found them done)
    seconds: float


def _partitions(run: Run) -> int:
    return run.partitions


def _shards(run: Run) -> int:
    return run.shards


# --------------------------------------------------------------------------------------------
# The steps


def scatter(output: str, shard: int) -> ScatterStats | Skipped:
    """A shard's dedup attributes → exact records by hash partition, attributes by row."""
    unit = open_unit(output, "scatter", shard, _shards, ScatterStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    if read_marker(run.work.shard(shard, "stats.json"), run.fingerprint, ShardStats) is None:
        raise TritterError(f"{output}: shard {shard} has not been processed yet")
    groups = [f"bands_{g}" for g in range(run.band_groups)]
    keys = ("exact", "lic_rank", "quality", "stars", "idhash", "ids", "shingle_offsets")
    loaded = load_npz(run.work.shard(shard, "dedup.npz"), (*keys, *groups))
    documents = loaded["exact"].size
    records = np.empty(documents, dtype=dedup.exact_record(run.bands))
    records["exact"] = loaded["exact"]
    records["ref"] = dedup.make_refs(shard, documents)
    records["lic"] = loaded["lic_rank"]
    records["quality"] = loaded["quality"]
    records["stars"] = loaded["stars"]
    records["idhash"] = loaded["idhash"]
    records["keys"] = np.concatenate([loaded[g] for g in groups], axis=1)
    attrs = np.empty(documents, dtype=dedup.ATTRS)
    for field, key in (("lic", "lic_rank"), ("quality", "quality"), ("stars", "stars"),
                       ("idhash", "idhash"), ("id", "ids")):  # fmt: skip
        attrs[field] = loaded[key]
    storage.write_bytes(unit.uri("attrs.npy"), npy_bytes(attrs))
    storage.write_bytes(unit.uri("shingle_offsets.npy"), npy_bytes(loaded["shingle_offsets"]))
    partition = dedup.hash_partition(records["exact"], run.partitions)
    write_slices(unit.uri("exact"), records, partition, run.partitions)
    stats = ScatterStats(fingerprint=run.fingerprint, shard=shard, documents=documents,
                         seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    return stats


def exact(output: str, partition: int) -> ExactStats | Skipped:
    """The exact-duplicate groups of hash partition `partition`."""
    unit = open_unit(output, "exact", partition, _partitions, ExactStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    uris = [run.work.dedup("scatter", i, "exact") for i in range(run.shards)]
    records = gather_slices(uris, partition, run.partitions, dedup.exact_record(run.bands),
                            f"{output}: dedup scatter unit {{}} has not finished")  # fmt: skip
    members, representatives, sizes = dedup.exact_groups(records)
    refs = records["ref"]
    decisions = np.empty(members.size, dtype=dedup.DECISION)
    decisions["ref"] = refs[members]
    decisions["keeper"] = refs[representatives]
    if members.size:  # the kept copies' ids, read by row from their shards
        kept, inverse = np.unique(refs[representatives], return_inverse=True)
        kept_attrs = components.attribute_rows(run).rows("attrs.npy", kept)
        decisions["keeper_id"] = kept_attrs["id"][inverse]
    write_slices(unit.uri("decisions"), decisions, dedup.shard_of(decisions["ref"]), run.shards)
    is_representative = np.ones(records.size, dtype=bool)
    is_representative[members] = False
    entries = dedup.band_entries(refs[is_representative], records["keys"][is_representative])
    del records
    write_slices(unit.uri("bands"), entries,
                 dedup.hash_partition(entries["key"], run.partitions), run.partitions)  # fmt: skip
    stats = ExactStats(fingerprint=run.fingerprint, partition=partition,
                       documents=int(refs.size), groups=int(sizes.size),
                       removed=int(members.size), largest=int(sizes.max(initial=0)),
                       band_entries=int(entries.size), seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    StepMetrics("curate_dedup_index", run.output).done(f"exact-{partition}")
    return stats


def candidates(output: str, partition: int) -> CandidateStats | Skipped:
    """Candidate pairs of the LSH buckets whose band key falls in `partition`."""
    unit = open_unit(output, "candidates", partition, _partitions, CandidateStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    entries = components.gather(run, "exact", "bands", partition, dedup.BAND)
    pairs = dedup.bucket_pairs(entries)
    write_slices(unit.uri("pairs"), pairs,
                 dedup.pair_partition(pairs["u"], pairs["v"], run.partitions),
                 run.partitions)  # fmt: skip
    stats = CandidateStats(fingerprint=run.fingerprint, partition=partition,
                           band_entries=int(entries.size), pairs=int(pairs.size),
                           seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    return stats


def verify(output: str, partition: int) -> VerifyStats | Skipped:
    """Verify the distinct candidate pairs of `partition`; route the edges to their nodes."""
    unit = open_unit(output, "verify", partition, _partitions, VerifyStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    pairs = dedup.unique_edges(components.gather(run, "candidates", "pairs", partition,
                                                 dedup.EDGE))  # fmt: skip
    verified, _ = dedup_verify.verify(pairs, components.attribute_rows(run),
                                      run.config.dedup_threshold)  # fmt: skip
    edges = dedup.both_directions(verified["u"], verified["v"])
    components.write_edges(unit, edges, edges["u"])
    stats = VerifyStats(fingerprint=run.fingerprint, partition=partition,
                        candidate_pairs=int(pairs.size), verified_pairs=int(verified.size),
                        seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    log.event(_log, "verified candidate pairs", partition=partition,
              candidates=stats.candidate_pairs, verified=stats.verified_pairs)  # fmt: skip
    return stats


# --------------------------------------------------------------------------------------------
# The order of the steps


@dataclass(frozen=True)
class Step:
    """One fan-out: `function(output, index)` for every index below `units`."""

    name: str  # its folder under _work/dedup/
    function: Callable[[str, int], Record]
    units: int
    what: str  # progress label


def dedup_steps(output: str) -> Iterator[Step]:
    """The dedup fan-outs in order. Lazy: the next round is decided (from the markers) only
    when the caller asks for the next step, after finishing the previous one."""
    run = load_run(output)
    if run is None or not run.config.dedup:
        return
    yield Step("scatter", scatter, run.shards, "dedup scatter")
    yield Step("exact", exact, run.partitions, "dedup exact")
    yield Step("candidates", candidates, run.partitions, "dedup candidates")
    yield Step("verify", verify, run.partitions, "dedup verify")
    yield from _component_steps(run)
    if run.config.semantic_dedup:
        yield Step("embed", semantic.embed, run.shards, "semantic dedup embed")
        yield Step("centroids", semantic.centroids, 1, "semantic dedup k-means")
        yield Step("assign", semantic.assign, run.shards, "semantic dedup assign")
        yield Step("semantic", semantic.decide, semantic.clusters(run), "semantic dedup clusters")


def _component_steps(run: Run) -> Iterator[Step]:
    """The connected-components rounds until they converge, then the near decisions."""
    for round_index in range(run.config.dedup_max_rounds):
        large = components.round_step("large", round_index)
        yield Step(large, components.large_star_unit(round_index), run.partitions,
                   f"dedup components (round {round_index + 1})")  # fmt: skip
        stats = _markers(run, large, LargeStarStats)
        if components.converged_round(run, round_index, stats):
            yield Step("near", components.decide, run.partitions, "dedup clusters")
            return
        small = components.round_step("small", round_index)
        yield Step(small, components.small_star_unit(round_index), run.partitions,
                   f"dedup components (round {round_index + 1})")  # fmt: skip
    raise TritterError(
        f"{run.output}: near-duplicate components did not converge in "
        f"{run.config.dedup_max_rounds} rounds (raise --dedup-max-rounds)"
    )


def _markers(run: Run, step: str, kind: type[M]) -> list[M]:
    count = run.shards if step == "scatter" else run.partitions
    uris = [run.work.dedup(step, q, "json") for q in range(count)]
    return all_markers(run.output, run.fingerprint, uris, kind,
                       f"dedup {step} unit {{}} has not finished")  # fmt: skip


def dedup_index(output: str, unit: int) -> IndexStats | Skipped:
    """Drive every dedup step to the end as unit `unit` of `Run.dedup_units` (the pipeline's
    fan-out; any number of them may run at once, and one alone finishes the job)."""
    run = load_run(output)
    if run is None:
        return Skipped()
    run.check_index(unit, run.dedup_units, "dedup-index unit")
    marker_uri = run.work.dedup("index", unit, "json")
    done = read_marker(marker_uri, run.fingerprint, IndexStats)
    if done is not None:
        return done
    processed_shards(run)  # every shard must be processed first
    started = time.monotonic()
    ran = sum(_complete(run, step, unit) for step in dedup_steps(output))
    stats = IndexStats(fingerprint=run.fingerprint, unit=unit, units_run=ran,
                       seconds=round(time.monotonic() - started, 3))  # fmt: skip
    write_marker(marker_uri, stats)
    StepMetrics("curate_dedup_index", run.output).done(unit)
    log.event(_log, "dedup-index unit finished", unit=unit, units_run=ran)
    return stats


def _complete(run: Run, step: Step, me: int) -> int:
    """Finish one fan-out as dedup-index unit `me`: its own units, then the others', each
    unless done or claimed by another live unit; then wait for the rest (taking over claims
    gone stale). Returns how many units it ran."""
    drivers = run.dedup_units
    done: set[int] = set()

    def is_done(q: int) -> bool:
        if q not in done and units.read(run.work.dedup(step.name, q, "json"), run.fingerprint):
            done.add(q)
        return q in done

    def take(q: int) -> int:
        _claim(run, step.name, q, me)
        step.function(run.output, q)
        done.add(q)
        return 1

    own = list(range(me, step.units, drivers))
    others = [q for q in range(step.units) if q % drivers != me]
    shift = me * step.units // drivers  # start stealing in different places
    others = others[shift:] + others[:shift]
    ran = sum(take(q) for q in [*own, *others]
              if not is_done(q) and not _held(run, step.name, q, me))  # fmt: skip
    pause = _POLL_SECONDS[0]
    while missing := [q for q in range(step.units) if not is_done(q)]:
        stale = [q for q in missing if not _held(run, step.name, q, me)]
        ran += sum(take(q) for q in stale)
        if not stale:
            time.sleep(pause)
            pause = min(pause * 2, _POLL_SECONDS[1])
    return ran


def _claim_uri(run: Run, step: str, q: int) -> str:
    return run.work.uri("dedup", "claims", f"{step}-{q:05d}.json")


def _claim(run: Run, step: str, q: int, me: int) -> None:
    units.write(_claim_uri(run, step, q), run.fingerprint, {"unit": me, "time": time.time()})


def _held(run: Run, step: str, q: int, me: int) -> bool:
    """Whether another dedup-index unit claimed unit `q` of `step` recently."""
    claim = units.read(_claim_uri(run, step, q), run.fingerprint)
    if claim is None or claim.get("unit") == me:
        return False
    return time.time() - float(claim.get("time", 0.0)) < CLAIM_LEASE_SECONDS


# --------------------------------------------------------------------------------------------
# What apply and finalize read


def shard_decisions(run: Run, shard: int) -> dict[int, tuple[str, str]]:
    """ref → (drop reason, id of the copy kept instead), for one shard's duplicates only: its
    slice of every exact, near and semantic decision file."""
    if not run.config.dedup:
        return {}
    exact_reason, near_reason, _ = dedup.REASONS
    files = [(reason, step, [run.work.dedup(step, q, "decisions") for q in range(run.partitions)])
             for reason, step in ((exact_reason, "exact"), (near_reason, "near"))]  # fmt: skip
    if run.config.semantic_dedup:
        files.append((semantic.REASON, "semantic", semantic.decision_uris(run)))
    found: dict[int, tuple[str, str]] = {}
    for reason, step, uris in files:
        missing = f"{run.output}: dedup {step} unit {{}} has not finished"
        decisions = gather_slices(uris, shard, run.shards, dedup.DECISION, missing)
        keepers = decisions["keeper_id"].tolist()
        for ref, keeper in zip(decisions["ref"].tolist(), keepers, strict=True):
            found.setdefault(ref, (reason, keeper.decode()))
    return found


@dataclass
class DedupSummary:
    """The run's dedup counts, added up from the markers."""

    exact_groups: int = 0
    exact_removed: int = 0
    largest_exact_group: int = 0
    near_clusters: int = 0
    near_removed: int = 0
    largest_near_cluster: int = 0
    candidate_pairs: int = 0
    verified_pairs: int = 0
    near_cluster_sizes: dict[str, int] | None = None
    semantic: SemanticDedupCounts | None = None


def dedup_summary(run: Run) -> DedupSummary:
    """Every dedup partition's marker added up (a one-line error when a unit has not finished)."""
    if not run.config.dedup:
        return DedupSummary(near_cluster_sizes={})
    exact_stats = _markers(run, "exact", ExactStats)
    verified = _markers(run, "verify", VerifyStats)
    near = _markers(run, "near", NearStats)
    sizes: dict[str, int] = {}
    for stats in near:
        for bucket, count in stats.sizes.items():
            sizes[bucket] = sizes.get(bucket, 0) + count
    return DedupSummary(
        exact_groups=sum(s.groups for s in exact_stats),
        exact_removed=sum(s.removed for s in exact_stats),
        largest_exact_group=max((s.largest for s in exact_stats), default=0),
        near_clusters=sum(s.clusters for s in near),
        near_removed=sum(s.removed for s in near),
        largest_near_cluster=max((s.largest for s in near), default=0),
        candidate_pairs=sum(s.candidate_pairs for s in verified),
        verified_pairs=sum(s.verified_pairs for s in verified),
        near_cluster_sizes=sizes,
        semantic=semantic.summary(run) if run.config.semantic_dedup else None,
    )


def read_edges(output: str) -> dict[str, np.ndarray]:
    """For audits and tests (it reads the whole corpus' decisions): exact and near decisions
    (`DECISION`) and the verified near-duplicate edges (u < v), from a run kept with
    `--keep-work`."""
    run = load_run(output)
    if run is None:
        raise TritterError(f"{output}: no work files (curate with --keep-work)")
    found = {}
    for name, step, suffix, count, dtype in (
        ("exact", "exact", "decisions", run.shards, dedup.DECISION),
        ("near", "near", "decisions", run.shards, dedup.DECISION),
        ("edges", "verify", "edges", run.partitions, dedup.EDGE),
    ):
        uris = [run.work.dedup(step, q, suffix) for q in range(run.partitions)]
        parts = [gather_slices(uris, s, count, dtype, f"{output}: dedup {step} unit {{}} missing")
                 for s in range(count)]  # fmt: skip
        found[name] = np.concatenate(parts) if parts else np.zeros(0, dtype)
    edges = found["edges"]
    found["edges"] = edges[edges["u"] < edges["v"]]
    return found
