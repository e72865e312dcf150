"""The `_work/` folder of a curation run: where each step keeps its intermediate files and its
completion marker, and the small file helpers the steps share.

    _work/plan.json                 the plan (`plan.PlanRecord`): config, source, fan-out sizes
    _work/units/00003.json          the input items of work unit 3
    _work/licenses.json             LICENSE/metadata files of the tree (license lookup)
    _work/shards/00003/             process-shard 3: docs.parquet, signatures.npy, shingles.npy,
                                    dedup.npz, rejects.jsonl, then stats.json (its marker)
    _work/dedup/group-001.npz|json  dedup-index 1: exact/near edges, then its marker
    _work/apply/00003.json          apply-shard 3's marker (counts, file sizes and hashes)

Markers go through `tritter.units` (one that does not parse means the unit is redone) and are
validated into the step's record type, so a marker of another shape (written by another version
of the code) also means the unit is redone rather than a KeyError later.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from tritter import log, storage, units
from tritter.errors import TritterError
from tritter.manifest import Record
from tritter.run_folder import WORK

_log = log.get_logger("curate")


@dataclass(frozen=True)
class WorkFolder:
    """The URIs of one run's work files."""

    output: str

    def uri(self, *parts: str) -> str:
        return storage.join(self.output, WORK, *parts)

    @property
    def plan(self) -> str:
        return self.uri("plan.json")

    @property
    def licenses(self) -> str:
        return self.uri("licenses.json")

    def unit(self, index: int) -> str:
        return self.uri("units", f"{index:05d}.json")

    def shard(self, index: int, name: str) -> str:
        """A file of process-shard `index`'s folder."""
        return self.uri("shards", f"{index:05d}", name)

    def group(self, group: int, suffix: str) -> str:
        """dedup-index `group`'s edges (`npz`) or marker (`json`)."""
        return self.uri("dedup", f"group-{group:03d}.{suffix}")

    def applied(self, index: int) -> str:
        return self.uri("apply", f"{index:05d}.json")


class Marker(Record):
    """A unit's completion marker: the run's fingerprint and the unit's result."""

    fingerprint: str


class Skipped(Record):
    """What a unit step returns once the whole curation has finished (its plan is gone)."""

    skipped: bool = True


M = TypeVar("M", bound=Marker)


def read_marker(uri: str, fingerprint: str, kind: type[M]) -> M | None:
    """The unit's result when it finished for this fingerprint, else None (redo the unit)."""
    data = units.read(uri, fingerprint)
    if data is None:
        return None
    try:
        return kind.model_validate(data)
    except ValidationError as err:
        log.event(_log, "unit marker of another shape: redoing the unit",
                  level=logging.WARNING, uri=uri, error=str(err.errors()[0]["msg"]))  # fmt: skip
        return None


def all_markers(
    output: str, fingerprint: str, uris: list[str], kind: type[M], what: str
) -> list[M]:
    """Every unit's marker, in unit order, before a step that needs them all; a one-line error
    naming the first unit not done (`what`: e.g. "shard {} has not been processed yet")."""
    found = []
    for index, uri in enumerate(uris):
        marker = read_marker(uri, fingerprint, kind)
        if marker is None:
            raise TritterError(f"{output}: {what.format(index)}")
        found.append(marker)
    return found


def write_marker(uri: str, marker: Marker) -> None:
    """Mark a unit done: always after every one of its outputs is written."""
    units.write(uri, marker.fingerprint, marker.model_dump(mode="json"))


def read_json(uri: str) -> Any | None:
    """A work file written by the plan step (None when absent). Unlike a marker it cannot be
    redone by the step reading it, so a corrupt one is an error."""
    try:
        return json.loads(storage.read_text(uri))
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise TritterError(f"{uri}: corrupt work file ({err})") from err


def write_json(uri: str, data: Any) -> None:
    storage.write_text(uri, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


def load_npz(uri: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    with storage.local_copy(uri) as path, np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in keys}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def concat(
    chunks: list[np.ndarray], dtype: npt.DTypeLike, shape: tuple[int, ...] = ()
) -> np.ndarray:
    """Concatenate per-batch arrays; an empty list gives an empty array of that shape."""
    if not chunks:
        return np.zeros((0, *shape), dtype=dtype)
    return np.concatenate(chunks).astype(dtype, copy=False)
