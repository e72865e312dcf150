"""Vectorised word n-gram hashing and MinHash signatures, a batch of documents at a time.

Why not hash shingles one by one (datasketch's `MinHash.update`)? At ~1 µs per shingle that is
about 0.3 MB/s of code per core; the whole curation stage has to run at several MB/s. Here a
batch of documents is concatenated into one byte array and everything is numpy:

1. Words are maximal runs of `[A-Za-z0-9_]` or non-ASCII bytes in the lower-cased text
   (punctuation and whitespace only separate words, as in BigCode's and datatrove's near-dedup).
2. Each word gets a 64-bit hash from a polynomial prefix sum over the bytes,
   `H[i] = Σ_{j<i} b_j·P^j (mod 2^64)`; a word's hash is `(H[end]−H[start])·P^−start`, which
   does not depend on where the word sits. P is odd, so P^−1 exists mod 2^64. A splitmix64
   finalizer then spreads the bits.
3. An n-gram's hash combines its n word hashes with distinct odd multipliers (order matters),
   then is finalized again. n-grams never cross documents.
4. MinHash: permutation k maps a shingle x to `a_k·x (mod 2^64)` (a_k odd), the
   multiply-shift family whose high bits are universal; min commutes with the monotone
   `>> 32`, so a signature value is `min(a_k·x) >> 32` (uint32). The (permutations ×
   shingles) product is computed in cache-sized chunks with `np.minimum.reduceat` over
   document segments.

The same word hashes feed benchmark decontamination (`decontam.py`), so the text is tokenized
once per document.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_P = np.uint64(0x100000001B3 * 2 + 1)  # odd 64-bit multiplier for the byte polynomial
_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GRAM_MULTIPLIERS = np.random.default_rng(0x7A11).integers(
    1, 2**63, size=64, dtype=np.uint64
) * np.uint64(2) + np.uint64(1)
_SEPARATOR = b"\n"
_CHUNK_CELLS = 1 << 18  # permutations × shingles per chunk: 2 MiB of uint64, cache-sized


def splitmix(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, in place on a uint64 array (returned for chaining)."""
    values ^= values >> np.uint64(30)
    values *= _MIX1
    values ^= values >> np.uint64(27)
    values *= _MIX2
    values ^= values >> np.uint64(31)
    return values


class _Powers:
    """P^j and P^−j mod 2^64 for j < n, grown on demand and cached per process."""

    def __init__(self) -> None:
        self.forward = np.ones(0, dtype=np.uint64)
        self.inverse = np.ones(0, dtype=np.uint64)

    def ensure(self, n: int) -> None:
        if self.forward.size >= n:
            return
        size = max(n, 2 * self.forward.size, 1 << 22)  # 4 Mi: one batch, no regrowth
        with np.errstate(over="ignore"):
            self.forward = np.ones(size, dtype=np.uint64)  # P^0, P^1, …
            self.forward[1:] = np.cumprod(np.full(size - 1, _P, dtype=np.uint64))
            self.inverse = np.ones(size, dtype=np.uint64)
            self.inverse[1:] = np.cumprod(np.full(size - 1, _P_INV, dtype=np.uint64))


_powers = _Powers()


@dataclass
class WordHashes:
    """Word hashes of a batch: `hashes[offsets[d]:offsets[d+1]]` belong to document d."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = documents + 1


def _word_mask(data: np.ndarray) -> np.ndarray:
    """Word bytes of lower-cased text: a-z, 0-9, `_`, and any byte ≥ 0x80 (non-ASCII).

    Comparisons rather than a 256-entry lookup table: numpy's fancy indexing costs ~5 ns per
    byte, the four vectorised comparisons well under 1 ns.
    """
    mask = (data - np.uint8(97)) < 26  # uint8 wrap-around: one comparison per range
    mask |= (data - np.uint8(48)) < 10
    mask |= data == 95
    mask |= data >= 128
    return mask


def word_hashes(texts: list[bytes]) -> WordHashes:
    """Hash every word of every document in one vectorised pass."""
    if not texts:
        return WordHashes(np.zeros(0, np.uint64), np.zeros(1, np.int64))
    # A leading separator means no word starts at byte 0, so `prefix[start - 1]` is valid.
    joined = _SEPARATOR + _SEPARATOR.join(texts).lower() + _SEPARATOR
    data = np.frombuffer(joined, dtype=np.uint8)
    n = data.size
    _powers.ensure(n)
    is_word = _word_mask(data)
    edges = np.diff(is_word.view(np.int8))
    starts = np.flatnonzero(edges == 1) + 1
    ends = np.flatnonzero(edges == -1) + 1  # exclusive
    with np.errstate(over="ignore"):
        prefix = np.multiply(data, _powers.forward[:n], dtype=np.uint64)
        np.cumsum(prefix, out=prefix)  # prefix[i] = Σ_{j≤i} b_j·P^j
        hashes = prefix[ends - 1] - prefix[starts - 1]
        hashes *= _powers.inverse[starts]
        splitmix(hashes)
    # Document d spans bytes [doc_starts[d], doc_starts[d] + len(d)); words map by position.
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    doc_starts = np.concatenate(([0], np.cumsum(lengths + len(_SEPARATOR))[:-1])) + 1
    offsets = np.searchsorted(starts, np.append(doc_starts, n))
    return WordHashes(hashes, offsets.astype(np.int64))


def ngram_hashes(words: WordHashes, n: int, short: bool = True) -> WordHashes:
    """Hashes of the word n-grams of each document (order-sensitive, never crossing documents).

    Every window of n consecutive words in the whole batch is combined with n contiguous
    multiply-adds (no gathers), then the windows that lie inside one document are selected.
    With `short`, a document with fewer than n words (but at least one) gets a single n-gram
    of all its words, so that it still has a signature.
    """
    counts = np.diff(words.offsets)
    full = counts >= n
    grams_per_doc = np.where(full, counts - (n - 1), 0)
    partial = (counts > 0) & ~full if short else np.zeros_like(full)
    grams_per_doc = grams_per_doc + partial
    out_offsets = np.concatenate(([0], np.cumsum(grams_per_doc))).astype(np.int64)
    total = int(out_offsets[-1])
    result = np.zeros(total, dtype=np.uint64)
    hashes = words.hashes
    with np.errstate(over="ignore"):
        if full.any():
            windows = hashes.size - n + 1
            combined = hashes[:windows] * _GRAM_MULTIPLIERS[0]
            for k in range(1, n):
                combined += hashes[k : k + windows] * _GRAM_MULTIPLIERS[k % 64]
            per_doc = np.where(full, grams_per_doc, 0)
            first = np.repeat(words.offsets[:-1] - out_offsets[:-1], per_doc)
            slots = np.repeat(full, grams_per_doc)  # output slots that hold full windows
            positions = np.flatnonzero(slots)
            result[positions] = combined[first + positions]
        for doc in np.flatnonzero(partial).tolist():  # rare: documents shorter than n words
            part = hashes[words.offsets[doc] : words.offsets[doc + 1]]
            result[out_offsets[doc]] = (part * _GRAM_MULTIPLIERS[: part.size]).sum()
        splitmix(result)
    return WordHashes(result, out_offsets)


@dataclass(frozen=True)
class Permutations:
    """The MinHash hash family: `x ↦ a·x mod 2^64` with odd `a` (seeded, so reproducible).

    Multiply-shift (Dietzfelbinger et al.): the high 32 bits of `a·x` form a universal family,
    and odd `a` makes each map a bijection. Inputs are already splitmix-finalized, so an added
    constant would buy nothing but one more pass over the largest array of the stage.
    """

    a: np.ndarray

    @classmethod
    def create(cls, num_perm: int, seed: int) -> Permutations:
        rng = np.random.default_rng(seed)
        return cls(rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + 1)

    @property
    def size(self) -> int:
        return int(self.a.size)


EMPTY = np.uint32(0xFFFFFFFF)


def signatures(shingles: WordHashes, perms: Permutations) -> np.ndarray:
    """MinHash signatures `[documents, num_perm]` (uint32).

    The product is laid out permutations × shingles so that each permutation's row is
    contiguous: both the multiply and the segment-wise `minimum.reduceat` then run along
    contiguous memory (about 8x faster than the transposed layout). Documents without
    shingles get all 0xFFFFFFFF (see `band_keys`).
    """
    docs = shingles.offsets.size - 1
    out = np.full((perms.size, docs), np.iinfo(np.uint64).max, dtype=np.uint64)
    values = shingles.hashes
    if values.size:
        chunk = max(1, _CHUNK_CELLS // perms.size)
        a = perms.a[:, None]
        buffer = np.empty((perms.size, chunk), dtype=np.uint64)
        doc_of = np.repeat(np.arange(docs), np.diff(shingles.offsets))
        with np.errstate(over="ignore"):
            for lo in range(0, values.size, chunk):
                hi = min(lo + chunk, values.size)
                block = buffer[:, : hi - lo]
                np.multiply(a, values[None, lo:hi], out=block)
                owners = doc_of[lo:hi]
                # Segment starts: where the owning document changes inside this chunk.
                seg = np.flatnonzero(np.diff(owners, prepend=owners[0] - 1))
                minima = np.minimum.reduceat(block, seg, axis=1)
                docs_here = owners[seg]  # unique: shingles are in document order
                out[:, docs_here] = np.minimum(out[:, docs_here], minima)
    result = np.ascontiguousarray((out >> np.uint64(32)).astype(np.uint32).T)
    result[np.diff(shingles.offsets) == 0] = EMPTY
    return result


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """`[documents, bands]` uint64 keys: one hash per band of `rows` signature values.

    Documents without shingles get key 0 in every band, and 0 is excluded from bucketing.
    """
    docs = sigs.shape[0]
    keys = np.zeros((docs, bands), dtype=np.uint64)
    if docs == 0:
        return keys
    with np.errstate(over="ignore"):
        for band in range(bands):
            block = sigs[:, band * rows : (band + 1) * rows].astype(np.uint64)
            acc = np.full(docs, np.uint64(band + 1), dtype=np.uint64)
            for r in range(rows):
                acc = acc * _P + block[:, r]
            splitmix(acc)
            acc[acc == 0] = 1
            keys[:, band] = acc
    empty = (sigs == EMPTY).all(axis=1)
    keys[empty] = 0
    return keys


def shingle_sets(shingles: WordHashes, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each kept document's shingles (top 32 bits of each hash), concatenated, with offsets:
    what exact-Jaccard verification of candidate pairs reads.

    Stored unsorted and with repeats: making the sets distinct costs a sort, which is only paid
    at verification time for the few documents that are candidates. Truncating to 32 bits
    merges two shingles of a pair with probability ~|A||B|/2^32, far below the precision
    being measured.
    """
    counts = np.diff(shingles.offsets)
    kept_counts = counts[keep]
    offsets = np.concatenate(([0], np.cumsum(kept_counts))).astype(np.int64)
    if kept_counts.sum() == 0:
        return np.zeros(0, np.uint32), offsets
    selected = np.repeat(keep, counts)
    values = (shingles.hashes[selected] >> np.uint64(32)).astype(np.uint32)
    return values, offsets


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of the sets of values in two arrays."""
    a, b = np.unique(a), np.unique(b)
    if a.size == 0 and b.size == 0:
        return 1.0
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Fraction of equal signature values, row by row (the MinHash Jaccard estimate)."""
    return (sig_a == sig_b).mean(axis=-1)


def choose_bands(threshold: float, num_perm: int, fn_weight: float = 0.99) -> tuple[int, int]:
    """(bands, rows) minimizing the weighted LSH error around `threshold`.

    The probability that two documents of Jaccard s share a band is 1 − (1 − s^r)^b. Candidate
    pairs are verified against the full signature afterwards, so false positives only cost a
    comparison and missed pairs are the error that matters: hence the weight on false
    negatives (the same integral datasketch minimizes in `MinHashLSH`).
    """
    grid_low = np.linspace(0.0, threshold, 200)
    grid_high = np.linspace(threshold, 1.0, 200)
    best = (float("inf"), 1, num_perm)  # (error, bands, rows)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(1 - (1 - grid_low**rows) ** bands, grid_low)
            fn = np.trapezoid((1 - grid_high**rows) ** bands, grid_high)
            error = (1 - fn_weight) * fp + fn_weight * fn
            if error < best[0]:
                best = (float(error), bands, rows)
    return best[1], best[2]
