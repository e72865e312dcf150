"""Compression of a tokenizer on held-out text: characters and UTF-8 bytes per token."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

EncodeBatch = Callable[[Sequence[str]], Sequence[Sequence[int]]]


def measure(encode_batch: EncodeBatch, groups: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """Per group (e.g. language) and over all groups: documents, chars, bytes, tokens, ratios."""
    result: dict[str, dict] = {}
    totals = {"documents": 0, "chars": 0, "bytes": 0, "tokens": 0}
    for name in sorted(groups):
        texts = list(groups[name])
        if not texts:
            continue
        row = {
            "documents": len(texts),
            "chars": sum(len(t) for t in texts),
            "bytes": sum(len(t.encode()) for t in texts),
            "tokens": sum(len(ids) for ids in encode_batch(texts)),
        }
        for key in totals:
            totals[key] += row[key]
        result[name] = _ratios(row)
    if result:
        result["all"] = _ratios(totals)
    return result


def _ratios(row: dict[str, int]) -> dict:
    tokens = max(row["tokens"], 1)
    return {
        **row,
        "chars_per_token": round(row["chars"] / tokens, 4),
        "bytes_per_token": round(row["bytes"] / tokens, 4),
    }
