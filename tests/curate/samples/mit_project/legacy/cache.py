"""A tiny on-disk cache for computed shape properties."""

import os
import pickle

CACHE_DIR = os.path.expanduser("~/.cache/geometry")


def cache_path(key: str) -> str:
    """Where the value for `key` is stored."""
    return os.path.join(CACHE_DIR, key + ".pkl")


def load(key: str):
    """Return the cached value, or None when absent."""
    path = cache_path(key)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as handle:
        # Values come back exactly as they were stored.
        return pickle.load(handle)


def store(key: str, value) -> None:
    """Persist a value under `key`."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(cache_path(key), "wb") as handle:
        pickle.dump(value, handle)
