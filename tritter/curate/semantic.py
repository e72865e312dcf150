"""Semantic dedup (`--semantic-dedup ENCODER`): copies that say the same thing in other words
(renamed identifiers, reordered functions), which share too few word 5-grams for MinHash.
The scheme is SemDeDup's (Abbas et al., 2023; NeMo Curator runs it): embed every document,
k-means the embeddings, and within each cluster the pairs whose cosine exceeds the threshold
are duplicates.

Four fan-outs after the near-duplicate decisions (`index.dedup_steps` yields them, so the
pipeline's dedup-index units drive them like every other dedup step):

1. `embed` (S units): a shard's documents that survived exact and near dedup → their
   embeddings (`encoder`: mean-pooled, unit length), `_work/dedup/embed/NNNNN.npy` (`embedded`
   rows: ref, vector). Memory: one shard's text and vectors.
2. `centroids` (1 unit): spherical k-means (Lloyd, fixed seed) on at most `KMEANS_SAMPLE`
   embeddings, chosen by a hash of their ref (the same sample whatever the shard order),
   reading one shard's file at a time → `_work/dedup/centroids/00000.npy`.
3. `assign` (S units): every embedding to its nearest centroid, written partitioned by cluster
   (`work.write_slices`), so that a cluster's unit reads only its own rows.
4. `semantic` (K units, one per cluster): the pairs above the threshold (a block of rows
   against the rest at a time), their connected components (`dedup.connected_components`),
   the best member of each kept by the near-duplicate rules (`components.choose_keepers`), the
   others' `semantic_duplicate` decisions routed to their shards for apply-shard. Memory: the
   cluster's rows, one block of similarities, one edge per grouped document.

Two copies that k-means puts in different clusters are never compared (SemDeDup's trade: cost
per cluster rather than over the corpus): more clusters are cheaper and miss a few more.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq

from tritter import log, storage
from tritter.curate import components, dedup, encoder, minhash
from tritter.curate.components import DedupUnit, open_unit
from tritter.curate.plan import Run
from tritter.curate.work import (
    Marker,
    Skipped,
    all_markers,
    gather_slices,
    npy_bytes,
    read_marker,
    write_marker,
    write_slices,
)
from tritter.errors import TritterError
from tritter.manifest import Record
from tritter.run_folder import SemanticDedupCounts, SemanticPair

_log = log.get_logger("curate")

REASON = dedup.REASONS[2]  # semantic_duplicate
KMEANS_SAMPLE = 50_000  # embeddings k-means trains on (memory: this many vectors)
KMEANS_ITERATIONS = 20  # Lloyd iterations at most (fewer once no assignment changes)
KMEANS_SEED = 0
DOCUMENTS_PER_CLUSTER = 1_000  # the default cluster count: one per this many documents
BLOCK_ROWS = 1_024  # rows per similarity or centroid block at most
BLOCK_SIMILARITIES = 1 << 24  # similarities per block at most (64 MB of float32)
UNIT_EXAMPLES = 3  # removed pairs a cluster unit records
MANIFEST_EXAMPLES = 10  # of those, the manifest's (the nearest to the threshold)


def embedded(dim: int) -> np.dtype:
    """One embedded document: its ref and unit vector."""
    return np.dtype([("ref", "<i8"), ("vector", "<f4", (dim,))])


class EmbedStats(Marker):
    """`_work/dedup/embed/NNNNN.json`."""

    shard: int
    documents: int  # embedded: the shard's survivors of exact and near dedup
    dim: int
    device: str
    seconds: float


class CentroidStats(Marker):
    """`_work/dedup/centroids/00000.json`."""

    clusters: int  # K: the units of the `semantic` step
    documents: int
    sample: int
    dim: int
    iterations: int
    seconds: float


class AssignStats(Marker):
    """`_work/dedup/assign/NNNNN.json`."""

    shard: int
    documents: int
    seconds: float


class SemanticExample(Record):
    """A removed document and the copy kept instead (ids; paths are looked up at the end)."""

    removed_ref: int
    kept_ref: int
    removed_id: str
    kept_id: str
    cosine: float


class SemanticStats(Marker):
    """`_work/dedup/semantic/KKKKK.json`: one k-means cluster's duplicates."""

    cluster: int
    documents: int
    pairs: int  # pairs of the cluster with cosine above the threshold
    groups: int  # connected groups of such pairs (each keeps one member)
    removed: int
    largest: int
    examples: list[SemanticExample]
    seconds: float


def _shards(run: Run) -> int:
    return run.shards


def _one(run: Run) -> int:
    return 1


def clusters(run: Run) -> int:
    """K, once the centroids step has run (the fan-out of the `semantic` step)."""
    return _centroid_stats(run).clusters


def _centroid_stats(run: Run) -> CentroidStats:
    found = read_marker(run.work.dedup("centroids", 0, "json"), run.fingerprint, CentroidStats)
    if found is None:
        raise TritterError(f"{run.output}: semantic dedup centroids have not been computed yet")
    return found


# --------------------------------------------------------------------------------------------
# The steps


def embed(output: str, shard: int) -> EmbedStats | Skipped:
    """Embed the documents of `shard` that exact and near dedup kept."""
    unit = open_unit(output, "embed", shard, _shards, EmbedStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    with storage.local_copy(run.work.shard(shard, "docs.parquet")) as path:
        texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
    refs = dedup.make_refs(shard, len(texts))
    kept = ~np.isin(refs, _decided_earlier(run, shard))
    config = run.config
    model = encoder.load(config.semantic_dedup or "", config.semantic_max_tokens,
                         config.semantic_batch_size)  # fmt: skip
    rows = np.empty(int(kept.sum()), dtype=embedded(model.dim))
    rows["ref"] = refs[kept]
    rows["vector"] = model.embed([text for text, keep in zip(texts, kept, strict=True) if keep])
    storage.write_bytes(unit.uri("npy"), npy_bytes(rows))
    stats = EmbedStats(fingerprint=run.fingerprint, shard=shard, documents=int(rows.size),
                       dim=model.dim, device=str(model.device), seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    return stats


def _decided_earlier(run: Run, shard: int) -> np.ndarray:
    """Refs of `shard` that exact or near dedup already drops (their slices of the decisions)."""
    found = []
    for step in ("exact", "near"):
        uris = [run.work.dedup(step, q, "decisions") for q in range(run.partitions)]
        missing = f"{run.output}: dedup {step} unit {{}} has not finished"
        found.append(gather_slices(uris, shard, run.shards, dedup.DECISION, missing)["ref"])
    return np.concatenate(found)


def centroids(output: str, index: int) -> CentroidStats | Skipped:
    """k-means centroids of a sample of every shard's embeddings."""
    unit = open_unit(output, "centroids", index, _one, CentroidStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    shards = _embed_stats(run)
    total = sum(s.documents for s in shards)
    dim = max((s.dim for s in shards), default=0)
    sample = _sample(run, shards, dim, min(1.0, KMEANS_SAMPLE / max(total, 1)))
    count = min(run.config.semantic_clusters or math.ceil(total / DOCUMENTS_PER_CLUSTER),
                len(sample))  # fmt: skip
    centres, iterations = kmeans(sample, count, KMEANS_ITERATIONS, KMEANS_SEED)
    storage.write_bytes(unit.uri("npy"), npy_bytes(centres))
    stats = CentroidStats(fingerprint=run.fingerprint, clusters=count, documents=total,
                          sample=len(sample), dim=dim, iterations=iterations,
                          seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    log.event(_log, "semantic dedup centroids", clusters=count, documents=total,
              sample=len(sample), iterations=iterations)  # fmt: skip
    return stats


def _embed_stats(run: Run) -> list[EmbedStats]:
    uris = [run.work.dedup("embed", s, "json") for s in range(run.shards)]
    return all_markers(run.output, run.fingerprint, uris, EmbedStats,
                       "semantic dedup embed unit {} has not finished")  # fmt: skip


def _load_embedded(run: Run, shard: int, dim: int) -> np.ndarray:
    with storage.local_copy(run.work.dedup("embed", shard, "npy")) as path:
        rows = np.load(path, allow_pickle=False)
    if rows.dtype != embedded(dim):
        raise TritterError(f"{run.output}: semantic dedup embed unit {shard}: unexpected layout")
    return rows


def _sample(run: Run, shards: list[EmbedStats], dim: int, fraction: float) -> np.ndarray:
    """The vectors whose ref hashes below `fraction`: a uniform sample fixed by the corpus."""
    parts = [np.zeros((0, dim), dtype=np.float32)]
    for stats in shards:
        if stats.documents:
            rows = _load_embedded(run, stats.shard, dim)
            parts.append(rows["vector"][_hash_fraction(rows["ref"]) < fraction])
    return np.concatenate(parts)


def _hash_fraction(refs: np.ndarray) -> np.ndarray:
    """A uniform number in [0, 1) per ref (53 bits of a 64-bit mix of it)."""
    mixed = minhash.splitmix(np.asarray(refs).astype(np.uint64, copy=True))
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign(output: str, shard: int) -> AssignStats | Skipped:
    """Route every embedding of `shard` to its nearest centroid's slice."""
    unit = open_unit(output, "assign", shard, _shards, AssignStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    found = _centroid_stats(run)
    with storage.local_copy(run.work.dedup("centroids", 0, "npy")) as path:
        centres = np.load(path, allow_pickle=False)
    rows = _load_embedded(run, shard, found.dim)
    labels = nearest(rows["vector"], centres) if rows.size else np.zeros(0, np.int64)
    write_slices(unit.uri("rows"), rows, labels, found.clusters)
    stats = AssignStats(fingerprint=run.fingerprint, shard=shard, documents=int(rows.size),
                        seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    return stats


def decide(output: str, cluster: int) -> SemanticStats | Skipped:
    """The semantic duplicates of one k-means cluster: every group's best member kept."""
    unit = open_unit(output, "semantic", cluster, clusters, SemanticStats)
    if not isinstance(unit, DedupUnit):
        return unit
    run = unit.run
    found = _centroid_stats(run)
    uris = [run.work.dedup("assign", s, "rows") for s in range(run.shards)]
    rows = gather_slices(uris, cluster, found.clusters, embedded(found.dim),
                         f"{output}: semantic dedup assign unit {{}} has not finished")  # fmt: skip
    vectors, refs = rows["vector"], rows["ref"]
    centre, member, pairs = similar_groups(vectors, run.config.semantic_threshold)
    attrs = components.attribute_rows(run).rows("attrs.npy", refs[member], dedup.ATTRS)
    decisions, sizes = components.choose_keepers(refs[centre], refs[member], attrs)
    write_slices(unit.uri("decisions"), decisions, dedup.shard_of(decisions["ref"]), run.shards)
    stats = SemanticStats(fingerprint=run.fingerprint, cluster=cluster, documents=int(refs.size),
                          pairs=pairs, groups=int(sizes.size), removed=int(decisions.size),
                          largest=int(sizes.max(initial=0)),
                          examples=_examples(decisions, refs, vectors, refs[member], attrs),
                          seconds=unit.seconds())  # fmt: skip
    write_marker(unit.uri("json"), stats)
    return stats


def _examples(
    decisions: np.ndarray,
    refs: np.ndarray,
    vectors: np.ndarray,
    grouped: np.ndarray,
    attrs: np.ndarray,
) -> list[SemanticExample]:
    """The removed pairs nearest the threshold: what to look at when tuning it. `refs` and
    `vectors` are the cluster's rows; `attrs` the `ATTRS` of the `grouped` refs."""
    if decisions.size == 0:
        return []
    row_of = {ref: row for row, ref in enumerate(refs.tolist())}
    id_of = dict(zip(grouped.tolist(), attrs["id"].tolist(), strict=True))
    removed = np.array([row_of[r] for r in decisions["ref"].tolist()])
    kept = np.array([row_of[r] for r in decisions["keeper"].tolist()])
    cosine = np.einsum("ij,ij->i", vectors[removed], vectors[kept])
    found = []
    for i in np.argsort(cosine, kind="stable")[:UNIT_EXAMPLES].tolist():
        found.append(SemanticExample(
            removed_ref=int(decisions["ref"][i]), kept_ref=int(decisions["keeper"][i]),
            removed_id=id_of[int(decisions["ref"][i])].decode(),
            kept_id=decisions["keeper_id"][i].decode(),
            cosine=round(float(cosine[i]), 4),
        ))  # fmt: skip
    return found


# --------------------------------------------------------------------------------------------
# The array logic


def nearest(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The index of each vector's most similar centre (a block of rows at a time)."""
    labels = np.empty(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), BLOCK_ROWS):
        block = vectors[start : start + BLOCK_ROWS]
        labels[start : start + len(block)] = np.argmax(block @ centres.T, axis=1)
    return labels


def kmeans(vectors: np.ndarray, k: int, iterations: int, seed: int) -> tuple[np.ndarray, int]:
    """Spherical k-means (unit centroids, cosine assignment): `k` distinct sample vectors to
    start with (a seeded draw), then Lloyd iterations until no assignment changes. A centroid
    left without members stays where it was. Returns the centroids and the iterations run."""
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    if k == 0:
        return np.zeros((0, dim), dtype=np.float32), 0
    rng = np.random.default_rng(seed)
    centres = vectors[np.sort(rng.choice(len(vectors), size=k, replace=False))].copy()
    labels = nearest(vectors, centres)
    done = 0
    while done < iterations:
        done += 1
        sums = _cluster_sums(vectors, labels, k)
        norms = np.linalg.norm(sums, axis=1)
        moved = norms > 0
        centres[moved] = (sums[moved] / norms[moved, None]).astype(np.float32)
        previous, labels = labels, nearest(vectors, centres)
        if np.array_equal(previous, labels):
            break
    return centres.astype(np.float32), done


def _cluster_sums(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The sum of each cluster's vectors (float64), by sorted segments (`np.add.at` is ~100x
    slower on this)."""
    order = np.argsort(labels, kind="stable")
    present, starts = np.unique(labels[order], return_index=True)
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    if present.size:
        sums[present] = np.add.reduceat(vectors[order].astype(np.float64), starts, axis=0)
    return sums


def similar_groups(vectors: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The groups of unit `vectors` connected by pairs with cosine above `threshold`.

    Returns (centre, member, pairs): row indices over every grouped row (the centre, its
    group's smallest row, included as its own member) and how many pairs exceeded the
    threshold. Each block's pairs are merged into the groups found so far at once, so what is
    held is one block of similarities and one edge per grouped row, never every pair.
    """
    leaf = np.zeros(0, dtype=np.int64)
    root = np.zeros(0, dtype=np.int64)
    pairs = 0
    step = max(1, min(BLOCK_ROWS, BLOCK_SIMILARITIES // max(len(vectors), 1)))
    for start in range(0, len(vectors), step):
        block = vectors[start : start + step]
        rows, columns = np.nonzero(block @ vectors[start:].T > threshold)
        u, v = rows + start, columns + start
        upper = v > u  # each pair once, never a row with itself
        u, v = u[upper], v[upper]
        pairs += int(u.size)
        if u.size:
            groups = dedup.connected_components(np.concatenate([leaf, u]),
                                                np.concatenate([root, v]))  # fmt: skip
            nodes = np.fromiter(groups.keys(), dtype=np.int64, count=len(groups))
            centres = np.fromiter(groups.values(), dtype=np.int64, count=len(groups))
            moved = nodes != centres
            leaf, root = nodes[moved], centres[moved]
    centre_rows = np.unique(root)
    return (
        np.concatenate([centre_rows, root]).astype(np.int64),
        np.concatenate([centre_rows, leaf]).astype(np.int64),
        pairs,
    )


# --------------------------------------------------------------------------------------------
# What apply and finalize read


def decision_uris(run: Run) -> list[str]:
    """Every cluster unit's decision file (slices by shard)."""
    return [run.work.dedup("semantic", k, "decisions") for k in range(clusters(run))]


def summary(run: Run) -> SemanticDedupCounts:
    """Every semantic unit's marker added up, with the examples' paths."""
    found = _centroid_stats(run)
    uris = [run.work.dedup("semantic", k, "json") for k in range(found.clusters)]
    stats = all_markers(run.output, run.fingerprint, uris, SemanticStats,
                        "semantic dedup cluster unit {} has not finished")  # fmt: skip
    examples = sorted((e for s in stats for e in s.examples), key=lambda e: e.cosine)
    examples = examples[:MANIFEST_EXAMPLES]
    paths = _paths(run, [r for e in examples for r in (e.removed_ref, e.kept_ref)])
    return SemanticDedupCounts(
        encoder=run.config.semantic_dedup or "",
        threshold=run.config.semantic_threshold,
        clusters=found.clusters,
        embedded=found.documents,
        pairs=sum(s.pairs for s in stats),
        groups=sum(s.groups for s in stats),
        removed=sum(s.removed for s in stats),
        largest_group=max((s.largest for s in stats), default=0),
        examples=[
            SemanticPair(
                removed_id=e.removed_id,
                removed_path=paths[e.removed_ref],
                kept_id=e.kept_id,
                kept_path=paths[e.kept_ref],
                cosine=e.cosine,
            )
            for e in examples
        ],
    )


def _paths(run: Run, refs: list[int]) -> dict[int, str]:
    """The paths of a few documents (each shard's `path` column read once)."""
    found: dict[int, str] = {}
    for shard in sorted({dedup.split_ref(ref)[0] for ref in refs}):
        with storage.local_copy(run.work.shard(shard, "docs.parquet")) as path:
            column = pq.read_table(path, columns=["path"]).column("path")
        for ref in refs:
            if dedup.split_ref(ref)[0] == shard:
                found[ref] = column[dedup.split_ref(ref)[1]].as_py()
    return found
