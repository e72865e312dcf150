"""Near-duplicate clusters as connected components, computed in partitions: no step holds the
whole graph.

Nodes are refs (documents); partition `p` owns the nodes with `dedup.node_partition(ref) == p`.
The verified near-duplicate edges arrive routed to both endpoints' partitions
(`_work/dedup/verify/`). Then rounds of two fan-outs over the partitions, each reading only
the slices of the previous fan-out's files routed to it (`work.gather_slices`):

* `large_star(r)`: per node u, every larger neighbour is re-attached to the smallest of u and
  its neighbours; the new edges go to their larger endpoint's partition
  (`_work/dedup/large-RRR/`). It also counts the *unsettled* nodes of its input: nodes with a
  smaller neighbour and more than one neighbour.
* `small_star(r)`: per node x, x and every smaller neighbour are attached to the smallest
  neighbour; the new edges go to both endpoints' partitions (`_work/dedup/small-RRR/`).

This is the alternating algorithm of Kiveris et al. ("Connected Components in MapReduce and
Beyond", SoCC 2014), the one GraphFrames and text-dedup run on Spark. Both operations keep
every component connected and never join two, and the alternation converges to one star per
component centred on its smallest ref, in O(log² n) rounds (in practice a few: each round about
halves the distance to the centre, so a chain of a million documents needs ~20). Convergence
is recognised locally: when no `large_star(r)` unit sees an unsettled node, its input is
exactly such a star forest (a leaf has one neighbour, smaller; a centre has only larger ones).
`index.dedup_steps` then records the round (`_work/dedup/components.json`) and runs `decide`;
past `--dedup-max-rounds` rounds it stops with a one-line error instead.

`decide` (`_work/dedup/near/`): each partition takes the stars centred on its nodes, reads the
members' preference attributes by ref (`ShardRows`), keeps the best member of each cluster and
writes the others' decisions routed to their shard (`DECISION` slices, one per shard), so that
apply-shard reads only its own shard's decisions. Centring on the smallest ref and then
choosing by preference (a final reduction per component) keeps every round's records two int64.

Memory per unit is what is routed to its partition: about (edges + nodes) / partitions, plus a
cluster's members where its centre lives (a near-duplicate cluster, never the corpus).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from tritter import log
from tritter.curate import dedup, dedup_verify
from tritter.curate.plan import Run, load_run
from tritter.curate.work import (
    Marker,
    Skipped,
    gather_slices,
    read_marker,
    write_marker,
    write_slices,
)
from tritter.errors import TritterError

_log = log.get_logger("curate")

M = TypeVar("M", bound=Marker)


@dataclass(frozen=True)
class DedupUnit:
    """One unit of a dedup step: the run, the step's folder under `_work/dedup/`, the index."""

    run: Run
    step: str
    index: int
    started: float

    def uri(self, suffix: str) -> str:
        return self.run.work.dedup(self.step, self.index, suffix)

    @property
    def partitions(self) -> int:
        return self.run.partitions

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)


def open_unit(
    output: str, step: str, index: int, units: Callable[[Run], int], kind: type[M]
) -> DedupUnit | M | Skipped:
    """The unit to run, or its recorded result when it is done (`Skipped` once the whole
    curation has finished)."""
    run = load_run(output)
    if run is None:
        return Skipped()
    run.check_index(index, units(run), f"dedup {step}")
    done = read_marker(run.work.dedup(step, index, "json"), run.fingerprint, kind)
    if done is not None:
        return done
    return DedupUnit(run, step, index, time.monotonic())


def partitions(run: Run) -> int:
    return run.partitions


def gather(run: Run, step: str, suffix: str, index: int, dtype: np.dtype) -> np.ndarray:
    """Slice `index` of every partition-unit's file of `step` (a one-line error when one is
    missing: that unit has not finished)."""
    uris = [run.work.dedup(step, q, suffix) for q in range(run.partitions)]
    return gather_slices(uris, index, run.partitions, dtype,
                         f"{run.output}: dedup {step} unit {{}} has not finished")  # fmt: skip


def write_edges(unit: DedupUnit, edges: np.ndarray, to: np.ndarray) -> None:
    """Edges to the partitions of the nodes in `to` (one slice per partition)."""
    slices = dedup.node_partition(to, unit.partitions)
    write_slices(unit.uri("edges"), edges, slices, unit.partitions)


def round_step(kind: str, round_index: int) -> str:
    return f"{kind}-{round_index:03d}"


def round_input(round_index: int) -> str:
    """The step whose edges (routed to both endpoints) large-star round `round_index` reads."""
    return "verify" if round_index == 0 else round_step("small", round_index - 1)


class LargeStarStats(Marker):
    """`_work/dedup/large-RRR/PPPPP.json`."""

    partition: int
    round: int
    edges_in: int  # distinct directed edges of the partition's nodes
    edges_out: int
    unsettled: int  # nodes not yet a leaf or the centre of a converged star
    seconds: float


class SmallStarStats(Marker):
    """`_work/dedup/small-RRR/PPPPP.json`."""

    partition: int
    round: int
    edges_in: int
    edges_out: int
    merged: int  # nodes with more than one smaller neighbour
    seconds: float


def large_star(output: str, index: int, round_index: int) -> LargeStarStats | Skipped:
    """Large-star round `round_index` for partition `index`."""
    step = round_step("large", round_index)
    unit = open_unit(output, step, index, partitions, LargeStarStats)
    if not isinstance(unit, DedupUnit):
        return unit
    edges = gather(unit.run, round_input(round_index), "edges", index, dedup.EDGE)
    out, unsettled = dedup.large_star(edges)
    write_edges(unit, out, out["u"])  # to the larger endpoint: small-star groups by it
    stats = LargeStarStats(fingerprint=unit.run.fingerprint, partition=index, round=round_index,
                           edges_in=int(edges.size), edges_out=int(out.size),
                           unsettled=unsettled, seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    return stats


def small_star(output: str, index: int, round_index: int) -> SmallStarStats | Skipped:
    """Small-star round `round_index` for partition `index`."""
    step = round_step("small", round_index)
    unit = open_unit(output, step, index, partitions, SmallStarStats)
    if not isinstance(unit, DedupUnit):
        return unit
    edges = gather(unit.run, round_step("large", round_index), "edges", index, dedup.EDGE)
    out, merged = dedup.small_star(edges)
    both = dedup.both_directions(out["u"], out["v"])
    write_edges(unit, both, both["u"])
    stats = SmallStarStats(fingerprint=unit.run.fingerprint, partition=index, round=round_index,
                           edges_in=int(edges.size), edges_out=int(out.size), merged=merged,
                           seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    return stats


def large_star_unit(round_index: int) -> Callable[[str, int], LargeStarStats | Skipped]:
    return functools.partial(large_star, round_index=round_index)


def small_star_unit(round_index: int) -> Callable[[str, int], SmallStarStats | Skipped]:
    return functools.partial(small_star, round_index=round_index)


class Converged(Marker):
    """`_work/dedup/components.json`: the large-star round whose input is the final star
    forest (written once every unit of that round saw no unsettled node)."""

    round: int
    edges: int  # directed edges of the final star forest (twice its undirected edges)


def components_uri(run: Run) -> str:
    return run.work.uri("dedup", "components.json")


def converged_round(run: Run, round_index: int, stats: list[LargeStarStats]) -> bool:
    """Whether round `round_index`'s input is final; if so, record it for `decide`."""
    if any(s.unsettled for s in stats):
        return False
    edges = sum(s.edges_in for s in stats)
    record = Converged(fingerprint=run.fingerprint, round=round_index, edges=edges)
    write_marker(components_uri(run), record)
    log.event(_log, "near-duplicate components converged", rounds=round_index, edges=edges)
    return True


class NearStats(Marker):
    """`_work/dedup/near/PPPPP.json`: the near-duplicate clusters centred in a partition."""

    partition: int
    clusters: int
    removed: int  # near_duplicate decisions (members other than each cluster's keeper)
    largest: int
    sizes: dict[str, int]  # cluster size (2, 3, 4, 5-8, 9-16, …) → clusters
    seconds: float


def size_bucket(size: int) -> str:
    """2, 3, 4 as themselves; above, the power-of-two range holding `size` ("5-8", "9-16")."""
    if size <= 4:
        return str(size)
    high = 1 << (size - 1).bit_length()
    return f"{high // 2 + 1}-{high}"


def decide(output: str, index: int) -> NearStats | Skipped:
    """Keep the best member of every cluster centred in partition `index`; route the other
    members' `near_duplicate` decisions to their shards."""
    unit = open_unit(output, "near", index, partitions, NearStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    done = read_marker(components_uri(run), run.fingerprint, Converged)
    if done is None:
        raise TritterError(f"{output}: near-duplicate components have not converged yet")
    edges = gather(run, round_input(done.round), "edges", index, dedup.EDGE)
    try:
        centres, members = dedup.star_members(edges)
    except ValueError as err:
        raise TritterError(f"{output}: dedup partition {index}: {err}") from err
    attrs = attribute_rows(run).rows("attrs.npy", members, dedup.ATTRS)
    decisions, sizes = choose_keepers(centres, members, attrs)
    write_slices(unit.uri("decisions"), decisions, dedup.shard_of(decisions["ref"]), run.shards)
    histogram: dict[str, int] = {}
    for size in sizes.tolist():
        histogram[size_bucket(size)] = histogram.get(size_bucket(size), 0) + 1
    stats = NearStats(fingerprint=run.fingerprint, partition=index, clusters=int(sizes.size),
                      removed=int(decisions.size), largest=int(sizes.max(initial=0)),
                      sizes=histogram, seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    return stats


def choose_keepers(
    clusters: np.ndarray, refs: np.ndarray, attrs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`DECISION`s for every member but the best of its cluster, and the cluster sizes.

    `clusters[i]` names the cluster of `refs[i]`; `attrs[i]` are its `ATTRS`.
    """
    order = dedup.best_first(clusters, attrs["lic"], attrs["quality"], attrs["stars"],
                             attrs["idhash"], refs)  # fmt: skip
    cluster = clusters[order]
    start = np.ones(cluster.size, dtype=bool)
    start[1:] = cluster[1:] != cluster[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(start.size), 0))
    keeper = order[first]
    dropped = ~start
    decisions = np.empty(int(dropped.sum()), dtype=dedup.DECISION)
    decisions["ref"] = refs[order][dropped]
    decisions["keeper"] = refs[keeper][dropped]
    decisions["keeper_id"] = attrs["id"][keeper][dropped]
    sizes = np.diff(np.append(np.flatnonzero(start), start.size))
    return decisions, sizes


def attribute_rows(run: Run) -> dedup_verify.ShardRows:
    """Per-shard rows by ref: signatures and shingles from process-shard, preference
    attributes and shingle offsets from the scatter step."""

    def uri_of(shard: int, name: str) -> str:
        if name in ("signatures.npy", "shingles.npy"):
            return run.work.shard(shard, name)
        return run.work.dedup("scatter", shard, name)

    return dedup_verify.ShardRows(uri_of)
