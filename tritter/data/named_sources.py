"""`--data` lists of training sources: `NAME=URI` or a bare URI, named after its file."""

from __future__ import annotations

from collections.abc import Iterable

from tritter.errors import TritterError
from tritter.storage import basename


def named_sources(entries: Iterable[str], unnamed: str) -> dict[str, str]:
    """Source name → URI, in the order given. A bare URI is named after its last path part
    without extensions (`s3://b/chats.jsonl` → `chats`), or `unnamed` when that is empty; a
    name used twice is an error naming the field."""
    named: dict[str, str] = {}
    for entry in entries:
        name, sep, uri = entry.partition("=")
        if not sep or "://" in name or "/" in name:
            uri, name = entry, basename(entry.rstrip("/")).split(".")[0].split(":")[-1]
        name = name.strip() or unnamed
        if name in named:
            raise TritterError(
                f"invalid config field 'data' (--data): two sources named '{name}' "
                "(name them: NAME=URI)"
            )
        named[name] = uri.strip()
    return named
