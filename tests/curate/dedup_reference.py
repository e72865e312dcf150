"""The dedup algorithm before issue #17 point 4, kept only to verify (and benchmark) the
partitioned one against it: every dedup-index group loaded every shard's per-document table,
and every apply worker reloaded all edges and replayed a global in-memory union-find.

The functions are the former `tritter.curate.dedup`, `dedup_verify.ShardArrays`,
`index.dedup_index` and `index.load_decisions`, unchanged but for where they write (a folder of
their own, no markers) and what they return.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tritter import storage
from tritter.curate import dedup, minhash
from tritter.curate.plan import Run, load_run
from tritter.curate.work import load_npz, npz_bytes

ESTIMATE_MARGIN = 0.15
_DECISION_KEYS = ("exact_member", "exact_rep", "near_a", "near_b", "node_ref", "node_id",
                  "node_lic_rank", "node_quality", "node_stars", "node_idhash")  # fmt: skip


@dataclass
class DocTable:
    refs: np.ndarray
    exact: np.ndarray
    lic_rank: np.ndarray
    quality: np.ndarray
    stars: np.ndarray
    idhash: np.ndarray

    def preference_order(self) -> np.ndarray:
        return np.lexsort((self.idhash, -self.stars, -self.quality, -self.lic_rank.astype(int)))

    def rank_of(self) -> np.ndarray:
        order = self.preference_order()
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        return rank


def exact_groups(table: DocTable) -> np.ndarray:
    """representative[i]: index of document i's group representative."""
    n = table.exact.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rank = table.rank_of()
    order = np.lexsort((rank, table.exact))
    hashes = table.exact[order]
    group_start = np.concatenate(([True], hashes[1:] != hashes[:-1]))
    first_of_group = np.maximum.accumulate(np.where(group_start, np.arange(n), 0))
    representative = np.empty(n, dtype=np.int64)
    representative[order] = order[first_of_group]
    return representative


def candidate_pairs(keys: np.ndarray, eligible: np.ndarray) -> np.ndarray:
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


def unique_pairs(chunks: list[np.ndarray]) -> np.ndarray:
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(chunks)
    if pairs.size == 0:
        return pairs.reshape(0, 2)
    return np.unique(np.sort(pairs, axis=1), axis=0)


def components(edges_a: np.ndarray, edges_b: np.ndarray) -> dict[int, int]:
    """Union-find over ref edges → {ref: root ref} for every ref on an edge."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:
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


def rank_keys(lic_rank, quality, stars, idhash) -> np.ndarray:
    keys = np.empty(
        lic_rank.size,
        dtype=[("lic", "i2"), ("quality", "f8"), ("stars", "i8"), ("idhash", "u8")],
    )
    keys["lic"] = -lic_rank.astype(np.int16)
    keys["quality"] = -quality
    keys["stars"] = -stars
    keys["idhash"] = idhash
    return keys


def near_clusters(edges_a, edges_b, node_refs, node_rank_keys) -> tuple[dict, list]:
    roots = components(edges_a, edges_b)
    key_of = dict(zip(node_refs.tolist(), node_rank_keys.tolist(), strict=True))
    best: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for ref, root in roots.items():
        sizes[root] = sizes.get(root, 0) + 1
        current = best.get(root)
        if current is None or key_of[ref] < key_of[current]:
            best[root] = ref
    keeper = {ref: best[root] for ref, root in roots.items()}
    return keeper, sorted(sizes.values(), reverse=True)


class ShardArrays:
    """Signature rows and distinct-shingle sets of every shard, memory-mapped."""

    def __init__(self, shard_file: Callable[[int, str], str], refs: np.ndarray, num_perm: int,
                 tmp: Path) -> None:  # fmt: skip
        self.shard_file = shard_file
        self.num_perm = num_perm
        self.tmp = tmp
        self.shard_of = (refs >> dedup.SHARD_SHIFT).astype(np.int64)
        self.row_of = (refs & ((1 << dedup.SHARD_SHIFT) - 1)).astype(np.int64)
        self.arrays: dict[tuple[int, str], np.ndarray] = {}

    def _array(self, index: int, name: str) -> np.ndarray:
        if (index, name) not in self.arrays:
            if name == "shingle_offsets":
                loaded = load_npz(self.shard_file(index, "dedup.npz"), (name,))[name]
            else:
                uri = self.shard_file(index, name)
                path = (
                    storage.download_file(uri, self.tmp / f"{index:05d}-{name}")
                    if storage.is_s3(uri)
                    else storage.local_path(uri)
                )
                loaded = np.load(path, mmap_mode="r", allow_pickle=False)
            self.arrays[(index, name)] = loaded
        return self.arrays[(index, name)]

    def signature_rows(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((indices.size, self.num_perm), dtype=np.uint32)
        shards = self.shard_of[indices]
        for shard in np.unique(shards).tolist():
            mask = shards == shard
            out[mask] = self._array(shard, "signatures.npy")[self.row_of[indices[mask]]]
        return out

    def shingle_set(self, index: int) -> np.ndarray:
        shard, row = int(self.shard_of[index]), int(self.row_of[index])
        offsets = self._array(shard, "shingle_offsets")
        return np.asarray(self._array(shard, "shingles.npy")[offsets[row] : offsets[row + 1]])


def verify(pairs: np.ndarray, arrays: ShardArrays, threshold: float) -> np.ndarray:
    if pairs.size == 0:
        return pairs
    left = arrays.signature_rows(pairs[:, 0])
    right = arrays.signature_rows(pairs[:, 1])
    estimate = (left == right).mean(axis=1).astype(np.float32)
    likely = pairs[estimate >= threshold - ESTIMATE_MARGIN]
    similarity = np.array(
        [minhash.exact_jaccard(arrays.shingle_set(a), arrays.shingle_set(b))
         for a, b in likely.tolist()],
        dtype=np.float32,
    )  # fmt: skip
    keep = similarity >= threshold if similarity.size else np.zeros(0, dtype=bool)
    return likely[keep]


def doc_table(run: Run, extra: tuple[str, ...] = ()) -> tuple[DocTable, dict[str, np.ndarray]]:
    keys = ("exact", "lic_rank", "quality", "stars", "idhash", *extra)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    refs = []
    for index in range(run.shards):
        loaded = load_npz(run.work.shard(index, "dedup.npz"), keys)
        for key in keys:
            parts[key].append(loaded[key])
        refs.append(dedup.make_refs(index, loaded["exact"].size))
    table = DocTable(
        refs=np.concatenate(refs),
        exact=np.concatenate(parts["exact"]),
        lic_rank=np.concatenate(parts["lic_rank"]),
        quality=np.concatenate(parts["quality"]),
        stars=np.concatenate(parts["stars"]),
        idhash=np.concatenate(parts["idhash"]),
    )
    return table, {key: np.concatenate(parts[key]) for key in extra}


def group_uri(folder: str, group: int) -> str:
    return storage.join(folder, f"group-{group:03d}.npz")


def index_group(output: str, group: int, folder: str) -> dict[str, int]:
    """The former dedup-index unit: band group `group` joined across every shard."""
    run = load_run(output)
    assert run is not None
    table, extra = doc_table(run, (f"bands_{group}", "ids"))
    representative = exact_groups(table)
    is_rep = representative == np.arange(representative.size)
    owned = table.exact % np.uint64(run.band_groups) == group
    members = np.flatnonzero(~is_rep & owned)
    keys = extra[f"bands_{group}"]
    pairs = unique_pairs([candidate_pairs(keys[:, b], is_rep) for b in range(keys.shape[1])])
    with tempfile.TemporaryDirectory(prefix="tritter-dedup-") as tmp:
        arrays = ShardArrays(run.work.shard, table.refs, run.config.num_perm, Path(tmp))
        verified = verify(pairs, arrays, run.config.dedup_threshold)
    near_a, near_b = table.refs[verified[:, 0]], table.refs[verified[:, 1]]
    node_index = np.unique(
        np.concatenate([members, representative[members], np.searchsorted(table.refs, near_a),
                        np.searchsorted(table.refs, near_b)]).astype(np.int64)
    )  # fmt: skip
    edges = {
        "exact_member": table.refs[members],
        "exact_rep": table.refs[representative[members]],
        "near_a": near_a,
        "near_b": near_b,
        "node_ref": table.refs[node_index],
        "node_id": extra["ids"][node_index],
        "node_lic_rank": table.lic_rank[node_index],
        "node_quality": table.quality[node_index],
        "node_stars": table.stars[node_index],
        "node_idhash": table.idhash[node_index],
    }
    storage.write_bytes(group_uri(folder, group), npz_bytes(edges))
    return {"candidate_pairs": int(pairs.shape[0]), "verified_pairs": int(near_a.size)}


@dataclass
class Decisions:
    exact: dict[int, int]  # dropped ref → the ref kept instead
    near: dict[int, int]
    ids: dict[int, str]
    exact_group_sizes: list[int]
    near_cluster_sizes: list[int]


def load_decisions(run: Run, folder: str) -> Decisions:
    """The former load_decisions: every group's edges merged, a global union-find replayed."""
    parts: dict[str, list[np.ndarray]] = {}
    for group in range(run.band_groups):
        for key, value in load_npz(group_uri(folder, group), _DECISION_KEYS).items():
            parts.setdefault(key, []).append(value)
    merged = {key: np.concatenate(values) for key, values in parts.items()}
    node_ref, first = np.unique(merged["node_ref"], return_index=True)
    keys = rank_keys(merged["node_lic_rank"][first], merged["node_quality"][first],
                     merged["node_stars"][first], merged["node_idhash"][first])  # fmt: skip
    keeper, sizes = near_clusters(merged["near_a"], merged["near_b"], node_ref, keys)
    exact = dict(zip(merged["exact_member"].tolist(), merged["exact_rep"].tolist(), strict=True))
    near = {ref: kept for ref, kept in keeper.items() if ref != kept}
    ids = {int(r): i.decode() for r, i in zip(node_ref, merged["node_id"][first], strict=True)}
    group_sizes = Counter(exact.values())
    return Decisions(exact, near, ids, sorted((n + 1 for n in group_sizes.values()), reverse=True),
                     sizes)  # fmt: skip


def apply_decisions(output: str, shard: int, folder: str) -> dict[int, tuple[str, str]]:
    """What the former apply-shard unit computed before writing: its shard's drops (after
    loading every group's edges and replaying the global union-find)."""
    run = load_run(output)
    assert run is not None
    decisions = load_decisions(run, folder)
    found = {}
    reasons = ("exact_duplicate", "near_duplicate")  # the former dedup had no semantic step
    for reason, decided in zip(reasons, (decisions.exact, decisions.near), strict=True):
        for ref, keeper in decided.items():
            if ref >> dedup.SHARD_SHIFT == shard:
                found.setdefault(ref, (reason, decisions.ids.get(keeper, "?")))
    return found


def reference(output: str, folder: str) -> tuple[Decisions, set[tuple[int, int]]]:
    """The whole former dedup in this process: (decisions, distinct verified edges)."""
    run = load_run(output)
    assert run is not None
    for group in range(run.band_groups):
        index_group(output, group, folder)
    edges = set()
    for group in range(run.band_groups):
        loaded = load_npz(group_uri(folder, group), ("near_a", "near_b"))
        for a, b in zip(loaded["near_a"].tolist(), loaded["near_b"].tolist(), strict=True):
            edges.add((min(a, b), max(a, b)))
    return load_decisions(run, folder), edges
