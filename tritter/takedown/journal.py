"""The takedown journal (`takedown/_pending.json`) and log (`takedown/log.jsonl`).

The journal is written before the first file changes and removed after the log line is
appended. It holds the log entry being built (every file's old sha256, and its new one before
the new bytes are published) and the two manifests as they will be, so a rerun after a crash
needs nothing from the files it already rewrote.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from tritter import storage
from tritter.errors import TritterError
from tritter.manifest import Record
from tritter.run_folder import TAKEDOWN, TAKEDOWN_LOG, TAKEDOWN_PENDING, TakedownEntry


class Pending(Record):
    entry: TakedownEntry
    # Run-folder part (curated, tokens) → its manifest as it will be published (`to_dict`),
    # the rewritten files' entries filled in from `entry.files` at publish time.
    manifests: dict[str, dict[str, Any]]


def pending_uri(run: str) -> str:
    return storage.join(run, TAKEDOWN, TAKEDOWN_PENDING)


def log_uri(run: str) -> str:
    return storage.join(run, TAKEDOWN, TAKEDOWN_LOG)


def read_pending(run: str) -> Pending | None:
    uri = pending_uri(run)
    try:
        return Pending.model_validate_json(storage.read_text(uri))
    except FileNotFoundError:
        return None
    except ValidationError as err:
        raise TritterError(f"{uri}: corrupt takedown journal ({err.errors()[0]['msg']})") from err


def _encoded(pending: Pending) -> bytes:
    return (pending.model_dump_json(indent=1) + "\n").encode("utf-8")


def start_pending(run: str, pending: Pending) -> None:
    """Create the journal; the run's lock too: a second takedown that planned at the same time
    finds it created and stops before touching a file."""
    uri = pending_uri(run)
    try:
        storage.create_new(uri, _encoded(pending))
    except FileExistsError:
        raise TritterError(
            f"{uri}: another takedown started on this run while this one was planning; "
            "run the command again once it has finished"
        ) from None


def write_pending(run: str, pending: Pending) -> None:
    """Record progress in the journal this takedown created."""
    storage.write_bytes(pending_uri(run), _encoded(pending))


def read_log(run: str) -> list[TakedownEntry]:
    uri = log_uri(run)
    try:
        text = storage.read_text(uri)
    except FileNotFoundError:
        return []
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(TakedownEntry.model_validate_json(line))
        except ValidationError as err:
            raise TritterError(f"{uri}: line {number}: not a takedown entry") from err
    return entries


def append_log(run: str, entry: TakedownEntry) -> None:
    """Append `entry` unless a line with its id is there already (a resumed takedown). The
    whole file is rewritten: object stores have no append."""
    uri = log_uri(run)
    try:
        text = storage.read_text(uri)
    except FileNotFoundError:
        text = ""
    if any(json.loads(line).get("id") == entry.id for line in text.splitlines() if line.strip()):
        return
    if text and not text.endswith("\n"):
        text += "\n"
    storage.write_text(uri, text + entry.model_dump_json() + "\n")
