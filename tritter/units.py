"""Completion markers of fan-out work units (a curation shard, a dedup band group, a pack shard).

A unit writes its outputs whole, then its marker: a small JSON object holding the run's
fingerprint and the unit's result. The unit is done when its marker exists and carries the
current fingerprint; a marker of another fingerprint belongs to an older plan and is ignored.
Writes are atomic, so a marker is never half-written: one that does not parse was damaged in
storage, and the unit is simply redone (always safe: a unit's outputs are rewritten whole before
its marker), with a warning in the log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tritter import log, storage

_log = log.get_logger("units")


def read(uri: str, fingerprint: str) -> dict[str, Any] | None:
    """The unit's recorded result when it finished for this fingerprint, else None."""
    try:
        data = json.loads(storage.read_text(uri))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as err:
        log.event(_log, "damaged unit marker: redoing the unit", level=logging.WARNING, uri=uri,
                  error=str(err))  # fmt: skip
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != fingerprint:
        return None
    return data


def write(uri: str, fingerprint: str, result: dict[str, Any]) -> dict[str, Any]:
    """Mark the unit done (after all its outputs are written); returns what was recorded."""
    data = {**result, "fingerprint": fingerprint}
    storage.write_text(uri, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    return data
