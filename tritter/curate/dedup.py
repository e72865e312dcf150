"""Exact and near-duplicate decisions as pure array logic, one partition at a time (the steps in
`index` and `components` read and write the arrays; `dedup_verify` checks candidate pairs
against the shards' shingle sets).

Documents are addressed by a global reference `ref = shard << 32 | row`.

Exact duplicates: documents with the same normalized-content hash form a group; its best member
(the *representative*) stays, every other member is an `exact_duplicate`. Groups are
partitioned by hash, so one partition holds whole groups.

Near duplicates, among representatives only (so a thousand identical files do not make a
thousand-way bucket): LSH buckets by (band, key); in every bucket each member is paired with the
bucket's first member (the smallest ref: datatrove's scheme), and each distinct candidate pair
is verified once (`dedup_verify`: the full signatures' estimate sets aside clearly dissimilar
pairs, the exact Jaccard of the two distinct-shingle sets decides). The verified pairs are
edges; connected components are clusters (`large_star`/`small_star` rounds, `star_members` at
the end); each cluster keeps its best member, the rest are `near_duplicate`s.

"Best" is deterministic: a known permissive license over an unknown one, then higher quality
score, then more stars, then the smaller hash of (path, content) — which does not depend on
where the corpus is stored — and last the smaller ref (never needed unless two hashes collide).
"""

from __future__ import annotations

import numpy as np

from tritter.curate import minhash

SHARD_SHIFT = 32
ROW_MASK = (1 << SHARD_SHIFT) - 1
# The drop reasons dedup decides (after every shard is processed), in the manifest's order
# (`semantic_duplicate`: `tritter.curate.semantic`, with --semantic-dedup).
REASONS = ("exact_duplicate", "near_duplicate", "semantic_duplicate")

# Record layouts of the partitioned work files (little-endian, packed: written with `tobytes`).
BAND = np.dtype([("key", "<u8"), ("ref", "<i8"), ("band", "<u2")])  # one LSH bucket entry
EDGE = np.dtype([("u", "<i8"), ("v", "<i8")])  # a candidate pair or a graph edge
DECISION = np.dtype([("ref", "<i8"), ("keeper", "<i8"), ("keeper_id", "S64")])
# A document's preference attributes and id, one row per document (read back by ref).
ATTRS = np.dtype(
    [("lic", "u1"), ("quality", "<f8"), ("stars", "<i8"), ("idhash", "<u8"), ("id", "S64")]
)


def exact_record(bands: int) -> np.dtype:
    """What the exact step needs of a document: hash, ref, preference and its band keys."""
    return np.dtype(
        [("exact", "<u8"), ("ref", "<i8"), ("lic", "u1"), ("quality", "<f8"),
         ("stars", "<i8"), ("idhash", "<u8"), ("keys", "<u8", (bands,))]
    )  # fmt: skip


def make_refs(shard: int, rows: int) -> np.ndarray:
    return (np.int64(shard) << SHARD_SHIFT) | np.arange(rows, dtype=np.int64)


def split_ref(ref: int) -> tuple[int, int]:
    return int(ref) >> SHARD_SHIFT, int(ref) & ROW_MASK


def shard_of(refs: np.ndarray) -> np.ndarray:
    return (np.asarray(refs, dtype=np.int64) >> SHARD_SHIFT).astype(np.int64)


def group_bands(bands: int, groups: int) -> list[tuple[int, int]]:
    """Contiguous band ranges: how process-shard splits the band keys in `dedup.npz`."""
    edges = np.linspace(0, bands, groups + 1).round().astype(int)
    return [(int(edges[g]), int(edges[g + 1])) for g in range(groups)]


# --------------------------------------------------------------------------------------------
# Partitions


def _mixed(values: np.ndarray) -> np.ndarray:
    return minhash.splitmix(np.asarray(values).astype(np.uint64, copy=True))


def node_partition(refs: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of a graph node (a ref): a hash of the ref, so shards spread evenly."""
    return (_mixed(refs) % np.uint64(partitions)).astype(np.int64)


def pair_partition(a: np.ndarray, b: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of a candidate pair (a < b): every copy of a pair meets in one place."""
    with np.errstate(over="ignore"):
        mixed = _mixed(a) ^ np.asarray(b).astype(np.uint64)
    return (minhash.splitmix(mixed) % np.uint64(partitions)).astype(np.int64)


def hash_partition(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of a content hash or band key (both already uniform 64-bit hashes)."""
    return (np.asarray(hashes, dtype=np.uint64) % np.uint64(partitions)).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Preference


def best_first(
    group: np.ndarray,
    lic: np.ndarray,
    quality: np.ndarray,
    stars: np.ndarray,
    idhash: np.ndarray,
    refs: np.ndarray,
) -> np.ndarray:
    """Indices sorted by group, best member first within each group (np.lexsort sorts by the
    last key first)."""
    return np.lexsort(
        (refs, idhash, -np.asarray(stars, np.int64), -np.asarray(quality, np.float64),
         -np.asarray(lic).astype(np.int16), group)
    )  # fmt: skip


def _starts(*columns: np.ndarray) -> np.ndarray:
    """True where a run of equal (sorted) rows begins."""
    n = columns[0].size
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
        for column in columns:
            start[1:] |= column[1:] != column[:-1]
    return start


def _first_of_run(start: np.ndarray) -> np.ndarray:
    """For every sorted row, the position of the first row of its run."""
    return np.maximum.accumulate(np.where(start, np.arange(start.size), 0))


# --------------------------------------------------------------------------------------------
# Exact duplicates


def exact_groups(records: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact-duplicate groups of one hash partition (`exact_record` rows).

    Returns (member, representative, sizes): row indices of every document that is not its
    group's representative and of the representative it loses to, and the sizes of the groups
    with more than one member.
    """
    if records.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    order = best_first(records["exact"], records["lic"], records["quality"], records["stars"],
                       records["idhash"], records["ref"])  # fmt: skip
    start = _starts(records["exact"][order])
    first = _first_of_run(start)
    members = order[~start]
    representatives = order[first[~start]]
    bounds = np.append(np.flatnonzero(start), start.size)
    sizes = np.diff(bounds)
    return members, representatives, sizes[sizes > 1]


# --------------------------------------------------------------------------------------------
# LSH buckets


def band_entries(refs: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """`BAND` entries of documents (`keys[i, b]`: band b's key of refs[i]); key 0 marks a
    document without shingles and never matches."""
    rows, bands = np.nonzero(keys)
    entries = np.empty(rows.size, dtype=BAND)
    entries["key"] = keys[rows, bands]
    entries["ref"] = refs[rows]
    entries["band"] = bands
    return entries


def bucket_pairs(entries: np.ndarray) -> np.ndarray:
    """Candidate pairs (`EDGE`, u < v) of `BAND` entries: in every (band, key) bucket each
    member paired with the bucket's smallest ref; distinct pairs only."""
    order = np.lexsort((entries["ref"], entries["key"], entries["band"]))
    band, key, ref = entries["band"][order], entries["key"][order], entries["ref"][order]
    start = _starts(band, key)
    first = _first_of_run(start)
    pairs = np.empty(int((~start).sum()), dtype=EDGE)
    pairs["u"] = ref[first[~start]]
    pairs["v"] = ref[~start]
    return unique_edges(pairs)


def unique_edges(edges: np.ndarray) -> np.ndarray:
    """Distinct `EDGE` rows, sorted by (u, v), without self-loops."""
    edges = edges[edges["u"] != edges["v"]]
    if edges.size == 0:
        return np.zeros(0, dtype=EDGE)
    order = np.lexsort((edges["v"], edges["u"]))
    edges = edges[order]
    return edges[_starts(edges["u"], edges["v"])]


def both_directions(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Each undirected edge {u, v} as the two directed `EDGE` rows (u, v) and (v, u)."""
    edges = np.empty(2 * u.size, dtype=EDGE)
    edges["u"] = np.concatenate([u, v])
    edges["v"] = np.concatenate([v, u])
    return edges


# --------------------------------------------------------------------------------------------
# Connected components: alternating large-star and small-star (Kiveris et al., "Connected
# Components in MapReduce and Beyond", SoCC 2014). Each operation is local to a node and its
# neighbours, so one partition of nodes (with the edges routed to them) computes it alone.
# Nodes are ordered by ref. Alternation converges to one star per component whose centre is
# the component's smallest ref; the fixed point is recognised locally (`large_star` counts the
# nodes that are not yet a leaf of such a star).


def large_star(edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Large-star of the nodes whose edges (both directions) are given, grouped by `u`.

    Every neighbour v > u is re-attached to m(u), the smallest of u and its neighbours.
    Returns the new edges as (larger, smaller) `EDGE` rows and the number of unsettled nodes:
    nodes with a smaller neighbour and more than one neighbour. Zero unsettled nodes in every
    partition means the input is already a forest of stars centred on their smallest ref.
    """
    edges = unique_edges(edges)
    u, v = edges["u"], edges["v"]
    start = _starts(u)
    first = _first_of_run(start)
    smallest = np.minimum(u, v[first])  # m(u) on every row of u's group
    degree = np.diff(np.append(np.flatnonzero(start), u.size))
    has_smaller = v[start] < u[start]
    unsettled = int((has_smaller & (degree > 1)).sum())
    larger = v > u
    out = np.empty(int(larger.sum()), dtype=EDGE)
    out["u"] = v[larger]
    out["v"] = smallest[larger]
    return out, unsettled


def small_star(edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Small-star: `edges` are (x, n) rows with n < x, grouped by x. Every node of
    {x} ∪ N(x) is attached to m = min N(x). Returns the new undirected edges as (larger,
    smaller) `EDGE` rows and how many nodes had more than one smaller neighbour."""
    edges = unique_edges(edges)
    x, n = edges["u"], edges["v"]
    start = _starts(x)
    first = _first_of_run(start)
    smallest = n[first]
    moved = ~start  # n != m: every neighbour but the smallest
    out = np.empty(int(start.sum() + moved.sum()), dtype=EDGE)
    out["u"] = np.concatenate([x[start], n[moved]])
    out["v"] = np.concatenate([smallest[start], smallest[moved]])
    degree = np.diff(np.append(np.flatnonzero(start), x.size))
    return out, int((degree > 1).sum())


def star_members(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clusters centred in this partition, from converged edges (both directions, grouped
    by u): (centre, member) arrays over every member, the centre included.

    A node whose neighbours are all larger is a centre; every other node must be a leaf with
    exactly one neighbour (else ValueError: the components have not converged).
    """
    edges = unique_edges(edges)
    u, v = edges["u"], edges["v"]
    start = _starts(u)
    degree = np.diff(np.append(np.flatnonzero(start), u.size))
    is_centre = v[start] > u[start]
    if (~is_centre & (degree > 1)).any():
        raise ValueError("the edges are not a forest of stars")
    centre_rows = np.repeat(is_centre, degree)
    centres = u[start][is_centre]
    return (
        np.concatenate([centres, u[centre_rows]]),
        np.concatenate([centres, v[centre_rows]]),
    )


def connected_components(u: np.ndarray, v: np.ndarray, max_rounds: int = 64) -> dict[int, int]:
    """{node: smallest node of its component} for every node on an undirected edge (u[i], v[i]):
    the rounds the distributed steps run, in one process — for small in-memory sets (the
    synthetic-data filter's near duplicates)."""
    edges = both_directions(np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64))
    for _ in range(max_rounds):
        larger, unsettled = large_star(edges)
        if unsettled == 0:
            centres, members = star_members(edges)
            return dict(zip(members.tolist(), centres.tolist(), strict=True))
        smaller, _ = small_star(larger)
        edges = both_directions(smaller["u"], smaller["v"])
    raise ValueError(f"connected components did not converge in {max_rounds} rounds")
