"""Deterministic, order-independent choices about documents.

Every random-looking decision (which documents form the tokenizer sample, which are held out
for validation, which get an extra copy when a source is repeated a fractional number of times)
is a threshold on a keyed hash of the document's content digest. The same document therefore
gets the same decision on any machine, in any shard order, in any process, and identical texts
(same sha256) always land on the same side of the train/validation split.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xxhash

_SCALE = float(2**53)


def unit_hash(keys: Iterable[str], seed: int, salt: str) -> np.ndarray:
    """A float64 in [0, 1) per key, uniform and stable: xxh64(salt:key, seed) / 2**64."""
    prefix = f"{salt}:".encode()
    seed = int(seed) % 2**64
    values = [xxhash.xxh64_intdigest(prefix + key.encode(), seed) >> 11 for key in keys]
    return np.asarray(values, dtype=np.float64) / _SCALE


def leading_count(amounts: np.ndarray, target: float) -> int:
    """How many leading items are needed for their cumulative amount to reach `target`."""
    if target <= 0 or len(amounts) == 0:
        return 0
    total = np.cumsum(amounts, dtype=np.float64)
    return int(min(np.searchsorted(total, target, side="left") + 1, len(amounts)))


def threshold_for(hashes: np.ndarray, amounts: np.ndarray, target: float) -> float:
    """The hash threshold `t` such that items with hash < t sum to about `target`.

    Items are taken in hash order until the target is reached; `t` sits just above the last
    one taken (0.0 takes nothing, 1.0 everything).
    """
    count = leading_count(amounts[np.argsort(hashes, kind="stable")], target)
    if count == 0:
        return 0.0
    if count >= len(hashes):
        return 1.0
    return float(np.nextafter(np.sort(hashes)[count - 1], 2.0))
