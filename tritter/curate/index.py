"""Step 3, dedup-index: one band group's duplicate edges, joined across every shard.

Work unit `g` reads the per-document dedup attributes of all shards and

* records the exact-duplicate edges (member → its group's representative) of the content-hash
  partition it owns (`hash % band_groups == g`, so each partition is handled once);
* pairs representatives that share a key in one of its LSH bands, and keeps the pairs whose
  exact Jaccard reaches the threshold (`dedup_verify`) as near-duplicate edges.

It writes `_work/dedup/group-GGG.npz` (the edges plus the preference attributes of every
document they mention, so that apply-shard can pick keepers without reading other shards), then
its marker `group-GGG.json` (`GroupStats`). `load_decisions` merges every group's edges into the
run's dedup decisions (which document is dropped for which keeper).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tritter import log, storage
from tritter.curate import dedup, dedup_verify
from tritter.curate.metrics import StepMetrics
from tritter.curate.plan import Run, load_run
from tritter.curate.process import processed_shards
from tritter.curate.work import (
    Marker,
    Skipped,
    all_markers,
    load_npz,
    npz_bytes,
    read_marker,
    write_marker,
)

_log = log.get_logger("curate")

# The edge file's arrays that apply and finalize read.
_DECISION_KEYS = (
    "exact_member",
    "exact_rep",
    "near_a",
    "near_b",
    "node_ref",
    "node_id",
    "node_lic_rank",
    "node_quality",
    "node_stars",
    "node_idhash",
)


class GroupStats(Marker):
    """`_work/dedup/group-GGG.json`: what dedup-index found in its band group."""

    group: int
    documents: int  # documents of every shard that entered dedup
    candidate_pairs: int  # LSH band collisions among exact-group representatives
    verified_pairs: int  # of those, pairs whose exact Jaccard reached the threshold
    exact_duplicates: int  # exact-duplicate edges of the hash partition this group owns
    seconds: float


def indexed_groups(run: Run) -> list[GroupStats]:
    """Every band group's marker; a one-line error naming the first group not indexed yet."""
    uris = [run.work.group(group, "json") for group in range(run.band_groups)]
    return all_markers(run.output, run.fingerprint, uris, GroupStats,
                       "band group {} has not been indexed yet")  # fmt: skip


def _doc_table(
    run: Run, extra: tuple[str, ...] = ()
) -> tuple[dedup.DocTable, dict[str, np.ndarray]]:
    """The dedup attributes of every shard's documents, in ref order (plus `extra` arrays)."""
    keys = ("exact", "lic_rank", "quality", "stars", "idhash", *extra)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    refs = []
    for index in range(run.shards):
        loaded = load_npz(run.work.shard(index, "dedup.npz"), keys)
        for key in keys:
            parts[key].append(loaded[key])
        refs.append(dedup.make_refs(index, loaded["exact"].size))
    table = dedup.DocTable(
        refs=np.concatenate(refs),
        exact=np.concatenate(parts["exact"]),
        lic_rank=np.concatenate(parts["lic_rank"]),
        quality=np.concatenate(parts["quality"]),
        stars=np.concatenate(parts["stars"]),
        idhash=np.concatenate(parts["idhash"]),
    )
    return table, {key: np.concatenate(parts[key]) for key in extra}


def dedup_index(output: str, group: int) -> GroupStats | Skipped:
    """Join band keys of band group `group` across all shards; exact and near-dup edges."""
    run = load_run(output)
    if run is None:
        return Skipped()
    run.check_index(group, run.band_groups, "band group")
    marker_uri = run.work.group(group, "json")
    done = read_marker(marker_uri, run.fingerprint, GroupStats)
    if done is not None:
        return done
    processed_shards(run)  # every shard must be processed first
    started = time.monotonic()
    table, extra = _doc_table(run, (f"bands_{group}", "ids"))
    groups = dedup.exact_groups(table)
    representative = groups.representative
    is_rep = groups.is_representative
    # Exact edges for the hash partition this group owns (each partition is owned once).
    owned = table.exact % np.uint64(run.band_groups) == group
    members = np.flatnonzero(~is_rep & owned) if run.config.dedup else np.zeros(0, np.int64)
    exact_member = table.refs[members]
    exact_rep = table.refs[representative[members]]
    near_a = near_b = np.zeros(0, dtype=np.int64)
    similarity = np.zeros(0, dtype=np.float32)
    candidates = 0
    if run.config.dedup and table.refs.size:
        keys = extra[f"bands_{group}"]
        pairs = dedup.unique_pairs(
            [dedup.candidate_pairs(keys[:, b], is_rep) for b in range(keys.shape[1])]
        )
        candidates = int(pairs.shape[0])
        with tempfile.TemporaryDirectory(prefix="tritter-dedup-") as tmp:
            arrays = dedup_verify.ShardArrays(
                run.work.shard, table.refs, run.config.num_perm, Path(tmp)
            )
            verified, similarity = dedup_verify.verify(pairs, arrays, run.config.dedup_threshold)
        near_a, near_b = table.refs[verified[:, 0]], table.refs[verified[:, 1]]
    # Attributes of every document the edges mention, so apply/finalize can pick keepers
    # without reading other shards.
    node_index = np.unique(
        np.concatenate(
            [
                members,
                representative[members],
                np.searchsorted(table.refs, near_a),
                np.searchsorted(table.refs, near_b),
            ]
        ).astype(np.int64)
    )
    edges = {
        "exact_member": exact_member,
        "exact_rep": exact_rep,
        "near_a": near_a,
        "near_b": near_b,
        "near_similarity": similarity,
        "node_ref": table.refs[node_index],
        "node_id": extra["ids"][node_index],
        "node_lic_rank": table.lic_rank[node_index],
        "node_quality": table.quality[node_index],
        "node_stars": table.stars[node_index],
        "node_idhash": table.idhash[node_index],
    }
    storage.write_bytes(run.work.group(group, "npz"), npz_bytes(edges))
    stats = GroupStats(
        fingerprint=run.fingerprint,
        group=group,
        documents=int(table.refs.size),
        candidate_pairs=candidates,
        verified_pairs=int(near_a.size),
        exact_duplicates=int(exact_member.size),
        seconds=round(time.monotonic() - started, 3),
    )
    write_marker(marker_uri, stats)
    StepMetrics("curate_dedup_index", run.output).done(group)
    log.event(_log, "indexed band group", group=group, candidates=candidates,
              verified=stats.verified_pairs, exact=stats.exact_duplicates)  # fmt: skip
    return stats


@dataclass
class DedupDecisions:
    """The run's dedup outcome, merged from every band group."""

    exact: dict[int, int]  # dropped ref → the ref kept instead
    near: dict[int, int]
    ids: dict[int, str]  # ref → document id, for every ref an edge mentions
    exact_group_sizes: list[int]
    near_cluster_sizes: list[int]


def load_decisions(run: Run) -> DedupDecisions:
    """Merge every band group's edges: exact drops as recorded, near-duplicate clusters as the
    connected components of all groups' edges, each keeping its best member."""
    parts: dict[str, list[np.ndarray]] = {}
    indexed_groups(run)  # every group must be indexed first
    for group in range(run.band_groups):
        loaded = load_npz(run.work.group(group, "npz"), _DECISION_KEYS)
        for key, value in loaded.items():
            parts.setdefault(key, []).append(value)
    merged = {key: np.concatenate(values) for key, values in parts.items()}
    node_ref, first = np.unique(merged["node_ref"], return_index=True)
    keys = dedup.rank_keys(
        merged["node_lic_rank"][first],
        merged["node_quality"][first],
        merged["node_stars"][first],
        merged["node_idhash"][first],
    )
    clusters = dedup.near_clusters(merged["near_a"], merged["near_b"], node_ref, keys)
    exact = dict(zip(merged["exact_member"].tolist(), merged["exact_rep"].tolist(), strict=True))
    near = {ref: keeper for ref, keeper in clusters.keeper.items() if ref != keeper}
    ids = {int(r): i.decode() for r, i in zip(node_ref, merged["node_id"][first], strict=True)}
    group_sizes = Counter(exact.values())
    return DedupDecisions(
        exact=exact,
        near=near,
        ids=ids,
        exact_group_sizes=sorted((n + 1 for n in group_sizes.values()), reverse=True),
        near_cluster_sizes=clusters.sizes,
    )
