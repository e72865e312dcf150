"""Exact and near-duplicate decisions over all shards (pure array logic: the steps read and
write the arrays, `dedup_verify` checks candidate pairs against the shards' shingle sets).

Documents are addressed by a global reference `ref = shard << 32 | row`.

Exact duplicates: documents with the same normalized-content hash form a group; its best member
(the *representative*) stays, every other member is an `exact_duplicate`.

Near duplicates, among representatives only (so a thousand identical files do not make a
thousand-way bucket): LSH buckets by band key; in every bucket each member is paired with the
bucket's first member (datatrove's scheme), pairs from all bands of the group are merged, and
each candidate pair is verified (`dedup_verify`: the full signatures' estimate sets aside
clearly dissimilar pairs, the exact Jaccard of the two distinct-shingle sets decides). The
verified pairs are edges; connected components are clusters; each cluster keeps its best
member, the rest are `near_duplicate`s.

"Best" is deterministic: a known permissive license over an unknown one, then higher quality
score, then more stars, then the smaller hash of (path, content) — which does not depend on
where the corpus is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SHARD_SHIFT = 32
# The drop reasons dedup decides (after every shard is processed), in the manifest's order.
REASONS = ("exact_duplicate", "near_duplicate")


def make_refs(shard: int, rows: int) -> np.ndarray:
    return (np.int64(shard) << SHARD_SHIFT) | np.arange(rows, dtype=np.int64)


def split_ref(ref: int) -> tuple[int, int]:
    return int(ref) >> SHARD_SHIFT, int(ref) & ((1 << SHARD_SHIFT) - 1)


def group_bands(bands: int, groups: int) -> list[tuple[int, int]]:
    """Contiguous band ranges, one per band group (a dedup-index work unit)."""
    edges = np.linspace(0, bands, groups + 1).round().astype(int)
    return [(int(edges[g]), int(edges[g + 1])) for g in range(groups)]


@dataclass
class DocTable:
    """Per-document attributes of all shards, concatenated in ref order."""

    refs: np.ndarray  # int64
    exact: np.ndarray  # uint64 normalized-content hash
    lic_rank: np.ndarray  # uint8: 1 known license, 0 unknown
    quality: np.ndarray  # float64
    stars: np.ndarray  # int64 (-1 unknown)
    idhash: np.ndarray  # uint64 tie-break: hash of (path, content sha256)

    def preference_order(self) -> np.ndarray:
        """Indices sorted best-first (np.lexsort sorts by the last key first)."""
        return np.lexsort((self.idhash, -self.stars, -self.quality, -self.lic_rank.astype(int)))

    def rank_of(self) -> np.ndarray:
        """rank[i]: position of document i in the preference order (0 = best)."""
        order = self.preference_order()
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        return rank


@dataclass
class ExactGroups:
    representative: np.ndarray  # index (into the table) of each document's group representative

    @property
    def is_representative(self) -> np.ndarray:
        return self.representative == np.arange(self.representative.size)


def exact_groups(table: DocTable) -> ExactGroups:
    """Group by content hash; the best member of each group represents it."""
    n = table.exact.size
    if n == 0:
        return ExactGroups(np.zeros(0, dtype=np.int64))
    rank = table.rank_of()
    order = np.lexsort((rank, table.exact))  # by hash, best first within a hash
    hashes = table.exact[order]
    group_start = np.concatenate(([True], hashes[1:] != hashes[:-1]))
    first_of_group = np.maximum.accumulate(np.where(group_start, np.arange(n), 0))
    representative = np.empty(n, dtype=np.int64)
    representative[order] = order[first_of_group]
    return ExactGroups(representative)


def candidate_pairs(keys: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Pairs `[k, 2]` of table indices sharing a band key (one band's column of keys).

    Key 0 marks a document without shingles and never matches.
    """
    index = np.flatnonzero(eligible & (keys != 0))
    if index.size < 2:
        return np.zeros((0, 2), dtype=np.int64)
    values = keys[index]
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    sorted_index = index[order]
    starts = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    first = np.maximum.accumulate(np.where(starts, np.arange(sorted_index.size), 0))
    members = ~starts
    return np.stack([sorted_index[first[members]], sorted_index[members]], axis=1)


def verify_pairs(
    pairs: np.ndarray,
    signature_rows: Callable[[np.ndarray], np.ndarray],
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep pairs whose signature agreement reaches the threshold: (pairs, similarities)."""
    if pairs.size == 0:
        return pairs, np.zeros(0, dtype=np.float32)
    left = signature_rows(pairs[:, 0])
    right = signature_rows(pairs[:, 1])
    similarity = (left == right).mean(axis=1).astype(np.float32)
    keep = similarity >= threshold
    return pairs[keep], similarity[keep]


def unique_pairs(chunks: list[np.ndarray]) -> np.ndarray:
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(chunks)
    if pairs.size == 0:
        return pairs.reshape(0, 2)
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs, axis=0)


def components(edges_a: np.ndarray, edges_b: np.ndarray) -> dict[int, int]:
    """Union-find over ref edges → {ref: root ref} for every ref on an edge."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in zip(edges_a.tolist(), edges_b.tolist(), strict=True):
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            if root_a < root_b:
                parent[root_b] = root_a
            else:
                parent[root_a] = root_b
    return {node: find(node) for node in list(parent)}


@dataclass
class NearClusters:
    keeper: dict[int, int]  # ref → the ref its cluster keeps (only refs on near edges)
    sizes: list[int]  # cluster sizes (≥ 2)


def near_clusters(
    edges_a: np.ndarray,
    edges_b: np.ndarray,
    node_refs: np.ndarray,
    node_rank_keys: np.ndarray,
) -> NearClusters:
    """Connected components of the verified edges and the best member of each.

    `node_rank_keys[i]` orders `node_refs[i]` (smaller = better), consistent across shards.
    """
    roots = components(edges_a, edges_b)
    key_of = dict(zip(node_refs.tolist(), node_rank_keys.tolist(), strict=True))
    best: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for ref, root in roots.items():
        sizes[root] = sizes.get(root, 0) + 1
        current = best.get(root)
        if current is None or key_of[ref] < key_of[current]:
            best[root] = ref
    return NearClusters(
        keeper={ref: best[root] for ref, root in roots.items()},
        sizes=sorted(sizes.values(), reverse=True),
    )


def rank_keys(
    lic_rank: np.ndarray, quality: np.ndarray, stars: np.ndarray, idhash: np.ndarray
) -> np.ndarray:
    """A sortable record per document (smaller = better) that any step can recompute."""
    keys = np.empty(
        lic_rank.size,
        dtype=[("lic", "i2"), ("quality", "f8"), ("stars", "i8"), ("idhash", "u8")],
    )
    keys["lic"] = -lic_rank.astype(np.int16)
    keys["quality"] = -quality
    keys["stars"] = -stars
    keys["idhash"] = idhash
    return keys
