"""Near-duplicate verification: which LSH candidate pairs really reach the Jaccard threshold.

The MinHash estimate has a standard error of ~0.035 at 0.8 with 128 permutations, enough to
misjudge one pair in ten near the threshold. So a pair is decided on the exact Jaccard of the
two documents' distinct word-shingle sets (which process-shard stores per shard), and the
signature estimate only spares reading those sets for clearly dissimilar candidates: a pair
whose estimate is more than `ESTIMATE_MARGIN` below the threshold is rejected without them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tritter import storage
from tritter.curate import dedup, minhash
from tritter.curate.work import load_npz

# 3.4 standard deviations of a 128-permutation estimate near 0.8: a pair this far below the
# threshold by its estimate is (practically) never above it exactly.
ESTIMATE_MARGIN = 0.15


class ShardArrays:
    """Per-document arrays of every shard, addressed by index into the dedup table (`refs`):
    signature rows from each shard's signatures.npy and distinct-shingle sets from its
    shingles.npy (memory-mapped locally; downloaded once per shard from S3, only for shards
    that hold a candidate)."""

    def __init__(
        self,
        shard_file: Callable[[int, str], str],
        refs: np.ndarray,
        num_perm: int,
        tmp: Path,
    ) -> None:
        self.shard_file = shard_file  # (shard index, file name) → URI
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


def verify(
    pairs: np.ndarray, arrays: ShardArrays, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs `[k, 2]` whose exact Jaccard reaches the threshold, with that Jaccard."""
    likely, _ = dedup.verify_pairs(pairs, arrays.signature_rows, threshold - ESTIMATE_MARGIN)
    similarity = np.array(
        [minhash.exact_jaccard(arrays.shingle_set(a), arrays.shingle_set(b))
         for a, b in likely.tolist()],
        dtype=np.float32,
    )  # fmt: skip
    keep = similarity >= threshold if similarity.size else np.zeros(0, dtype=bool)
    return likely[keep], similarity[keep]
