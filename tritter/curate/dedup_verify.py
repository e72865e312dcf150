"""Near-duplicate verification: which LSH candidate pairs really reach the Jaccard threshold;
and `ShardRows`, which reads the rows of a few documents from per-shard arrays.

The MinHash estimate has a standard error of ~0.035 at 0.8 with 128 permutations, enough to
misjudge one pair in ten near the threshold. So a pair is decided on the exact Jaccard of the
two documents' distinct word-shingle sets (which process-shard stores per shard), and the
signature estimate only spares reading those sets for clearly dissimilar candidates: a pair
whose estimate is more than `ESTIMATE_MARGIN` below the threshold is rejected without them.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable

import numpy as np

from tritter import storage
from tritter.curate import dedup, minhash
from tritter.errors import TritterError

# 3.4 standard deviations of a 128-permutation estimate near 0.8: a pair this far below the
# threshold by its estimate is (practically) never above it exactly.
ESTIMATE_MARGIN = 0.15
# Rows closer than this are fetched with one read (the gap is read and dropped).
_COALESCE_BYTES = 64 * 1024


@functools.lru_cache(maxsize=256)
def _parse_header(head: bytes) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) of a `.npy` header (shards of one size share theirs)."""
    stream = io.BytesIO(head)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


class _Npy:
    """One `.npy` file's rows, read without loading the file: only the byte ranges of the rows
    asked for (`os.pread` locally, ranged GETs on S3; nearby rows in one read)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fd = None if storage.is_s3(uri) else os.open(storage.local_path(uri), os.O_RDONLY)
        try:
            lead = self._read(0, 12)
            if len(lead) < 10 or lead[:6] != b"\x93NUMPY":
                raise TritterError(f"{uri}: not a .npy file")
            width = 2 if lead[6] == 1 else 4
            start = 8 + width + int.from_bytes(lead[8 : 8 + width], "little")
            shape, fortran, dtype = _parse_header(self._read(0, start))
        except BaseException:
            self.close()
            raise
        if fortran:
            raise TritterError(f"{uri}: Fortran-ordered array (expected C order)")
        self.shape, self.dtype, self.offset = shape, dtype, start

    def _read(self, offset: int, length: int) -> bytes:
        if self.fd is None:
            return storage.read_range(self.uri, offset, length)
        return os.pread(self.fd, length, offset) if length > 0 else b""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> _Npy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def row_items(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64))

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """`array[rows]` (rows of the first axis, any order, repeats allowed)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise TritterError(f"{self.uri}: row out of range (it has {self.shape[0]})")
        unique, inverse = np.unique(rows, return_inverse=True)
        flat = self.spans(unique, unique + 1, self.row_items)
        return flat.reshape((unique.size, *self.shape[1:]))[inverse]

    def spans(self, starts: np.ndarray, ends: np.ndarray, unit: int = 1) -> np.ndarray:
        """The items [starts[i]*unit, ends[i]*unit) of the flat array, concatenated (`starts`
        ascending); spans closer than `_COALESCE_BYTES` come from one read."""
        starts = np.asarray(starts, dtype=np.int64) * unit
        ends = np.asarray(ends, dtype=np.int64) * unit
        size = self.dtype.itemsize
        out = []
        i = 0
        while i < starts.size:
            j = i + 1
            while j < starts.size and (starts[j] - ends[j - 1]) * size <= _COALESCE_BYTES:
                j += 1
            lo, hi = int(starts[i]), int(ends[j - 1])
            data = np.frombuffer(self._read(self.offset + lo * size, (hi - lo) * size),
                                 dtype=self.dtype)  # fmt: skip
            if data.size != hi - lo:
                raise TritterError(f"{self.uri}: truncated array file")
            out += [data[s - lo : e - lo] for s, e in zip(starts[i:j], ends[i:j], strict=True)]
            i = j
        return np.concatenate(out) if out else np.zeros(0, self.dtype)


class ShardRows:
    """Rows of per-shard arrays for the documents a unit needs, by ref: one shard's file is
    open at a time, and only the rows asked for are read (never a whole shard from S3)."""

    def __init__(self, uri_of: Callable[[int, str], str]) -> None:
        self.uri_of = uri_of  # (shard index, file name) → URI

    def rows(self, name: str, refs: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
        """Row `ref & 0xffffffff` of shard `ref >> 32`'s array `name`, for every ref (`dtype`:
        of the empty result when there are no refs)."""
        refs = np.asarray(refs, dtype=np.int64)
        shards = dedup.shard_of(refs)
        rows = refs & dedup.ROW_MASK
        out = None
        for shard in np.unique(shards).tolist():
            mask = shards == shard
            with _Npy(self.uri_of(shard, name)) as array:
                found = array.rows(rows[mask])
            if out is None:
                out = np.empty((refs.size, *found.shape[1:]), dtype=found.dtype)
            out[mask] = found
        return out if out is not None else np.zeros(0, dtype=dtype)

    def segments(self, name: str, offsets_name: str, refs: np.ndarray) -> dict[int, np.ndarray]:
        """Variable-length rows: `values[offsets[row]:offsets[row + 1]]` of array `name`, with
        the offsets in array `offsets_name`, for every distinct ref."""
        refs = np.unique(np.asarray(refs, dtype=np.int64))
        shards = dedup.shard_of(refs)
        found: dict[int, np.ndarray] = {}
        for shard in np.unique(shards).tolist():
            these = refs[shards == shard]
            rows = these & dedup.ROW_MASK
            with _Npy(self.uri_of(shard, offsets_name)) as offsets:
                starts = offsets.rows(rows)
                ends = offsets.rows(rows + 1)
            with _Npy(self.uri_of(shard, name)) as array:
                values = array.spans(starts, ends)
            bounds = np.concatenate(([0], np.cumsum(ends - starts)))
            for k, ref in enumerate(these.tolist()):
                found[ref] = values[bounds[k] : bounds[k + 1]]
        return found


def verify(pairs: np.ndarray, rows: ShardRows, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate `EDGE` pairs whose exact Jaccard reaches the threshold, with that Jaccard.

    Reads the signatures of the pairs' documents (`signatures.npy`), then the shingle sets
    (`shingles.npy` at `shingle_offsets.npy`) of the pairs the estimate did not set aside.
    """
    if pairs.size == 0:
        return pairs, np.zeros(0, dtype=np.float32)
    docs, inverse = np.unique(np.concatenate([pairs["u"], pairs["v"]]), return_inverse=True)
    sigs = rows.rows("signatures.npy", docs)
    position = {"u": inverse[: pairs.size], "v": inverse[pairs.size :]}
    estimate = (sigs[position["u"]] == sigs[position["v"]]).mean(axis=1).astype(np.float32)
    likely_mask = estimate >= threshold - ESTIMATE_MARGIN
    del sigs
    likely = pairs[likely_mask]
    sets = rows.segments("shingles.npy", "shingle_offsets.npy",
                         np.concatenate([likely["u"], likely["v"]]))  # fmt: skip
    similarity = np.array(
        [minhash.exact_jaccard(sets[a], sets[b])
         for a, b in zip(likely["u"].tolist(), likely["v"].tolist(), strict=True)],
        dtype=np.float32,
    )  # fmt: skip
    keep = similarity >= threshold if similarity.size else np.zeros(0, dtype=bool)
    return likely[keep], similarity[keep]
