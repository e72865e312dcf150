"""A keyed pseudo-random permutation of `range(n)` that is computed, never stored.

Shuffling a trillion-token run's samples with `numpy.random.permutation` would hold an int64
per sample on every rank and redo the whole shuffle to resume. A Feistel network instead maps
any index to its image in O(1): split the index's bits into two halves, run a few rounds of
`L, R = R, L ^ F(R, key_r)`, and the result is a bijection on the power-of-four domain
enclosing n. Indexes that land outside `range(n)` are walked forward through the permutation
until they land inside ("cycle walking"), which keeps it a bijection on `range(n)`; with the
domain under 4n that takes under four steps on average. The round function is splitmix64.
"""

from __future__ import annotations

import numpy as np

_MASK64 = (1 << 64) - 1


def splitmix64(value: int) -> int:
    """One splitmix64 step on a Python int (used to derive round keys)."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _mix(values: np.ndarray, key: np.uint64) -> np.ndarray:
    """splitmix64 finalizer over a uint64 array (wrapping arithmetic is intended)."""
    z = values ^ key
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class FeistelPermutation:
    """`perm(indexes)` maps each index in `range(n)` to a distinct index in `range(n)`."""

    def __init__(self, n: int, *key: int, rounds: int = 6) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        self.n = n
        bits = max(2, (max(n - 1, 1)).bit_length())
        self.half = (bits + 1) // 2
        self.mask = np.uint64((1 << self.half) - 1)
        state = 0x7A3C_5E11
        for part in key:
            state = splitmix64(state ^ (int(part) & _MASK64))
        self.keys = []
        for _ in range(rounds):
            state = splitmix64(state)
            self.keys.append(np.uint64(state))

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        half = np.uint64(self.half)
        left, right = x >> half, x & self.mask
        for key in self.keys:
            left, right = right, left ^ (_mix(right, key) & self.mask)
        return (left << half) | right

    def __call__(self, indexes: np.ndarray | int) -> np.ndarray:
        x = np.asarray(indexes, dtype=np.uint64)
        if x.size and int(x.max()) >= self.n:
            raise IndexError(f"index out of range for a permutation of {self.n}")
        with np.errstate(over="ignore"):
            out = self._feistel(x.reshape(-1))
            outside = out >= np.uint64(self.n)
            while outside.any():
                out[outside] = self._feistel(out[outside])
                outside = out >= np.uint64(self.n)
        return out.astype(np.int64).reshape(x.shape)
