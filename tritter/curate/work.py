"""The `_work/` folder of a curation run: where each step keeps its intermediate files and its
completion marker, and the small file helpers the steps share.

    _work/plan.json                 the plan (`plan.PlanRecord`): config, source, fan-out sizes
    _work/units/00003.json          the input items of work unit 3, and the rows of the
                                    repository table its documents need (`repos.attach`)
    _work/licenses.json             LICENSE/metadata files of the tree (license lookup)
    _work/shards/00003/             process-shard 3: docs.parquet, signatures.npy, shingles.npy,
                                    dedup.npz, rejects.jsonl, then stats.json (its marker)
    _work/dedup/STEP/00005.*        dedup step STEP's unit 5: its partitioned outputs, then
                                    its marker 00005.json (`index` and `components` list them)
    _work/apply/00003.json          apply-shard 3's marker (counts, file sizes and hashes)

Partitioned files (`write_slices`) are how dedup steps hand records to the next fan-out: one
file per producing unit, its records sorted by the consuming unit they are for, behind a header
of offsets, so consumer q reads only its slice of every producer's file (two ranged reads).

Markers go through `tritter.units` (one that does not parse means the unit is redone) and are
validated into the step's record type, so a marker of another shape (written by another version
of the code) also means the unit is redone rather than a KeyError later.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
_S3_READERS = 16  # concurrent ranged reads of partitioned files on S3


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

    def dedup(self, step: str, index: int, suffix: str) -> str:
        """A file of dedup step `step`'s unit `index` (`json`: its marker)."""
        return self.uri("dedup", step, f"{index:05d}.{suffix}")

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


def write_slices(uri: str, records: np.ndarray, slice_of: np.ndarray, count: int) -> None:
    """Write `records` as one partitioned file of `count` slices (`slice_of[i]`: the slice of
    record i): `count + 1` little-endian int64 record offsets, then the records by slice."""
    order = np.argsort(slice_of, kind="stable")
    counts = np.bincount(np.asarray(slice_of, dtype=np.int64), minlength=count)
    if counts.size != count:
        raise ValueError(f"slice index out of range (0..{count - 1})")
    offsets = np.concatenate(([0], np.cumsum(counts))).astype("<i8")
    storage.write_bytes(uri, offsets.tobytes() + records[order].tobytes())


def read_slice(uri: str, index: int, count: int, dtype: np.dtype) -> np.ndarray:
    """Slice `index` of a partitioned file of `count` slices (`FileNotFoundError` when the
    file is absent); a one-line error when the file is damaged."""
    if storage.is_s3(uri):
        return _slice(lambda offset, length: storage.read_range(uri, offset, length), uri,
                      index, count, dtype)  # fmt: skip
    fd = os.open(storage.local_path(uri), os.O_RDONLY)  # one open, two reads
    try:
        return _slice(lambda offset, length: os.pread(fd, length, offset), uri, index, count,
                      dtype)  # fmt: skip
    finally:
        os.close(fd)


def _slice(
    read: Callable[[int, int], bytes], uri: str, index: int, count: int, dtype: np.dtype
) -> np.ndarray:
    head = read(8 * index, 16)
    if len(head) != 16:
        raise TritterError(f"{uri}: damaged partitioned file (no slice {index} of {count})")
    low, high = (int(v) for v in np.frombuffer(head, dtype="<i8"))
    size = dtype.itemsize
    if high < low:
        raise TritterError(f"{uri}: damaged partitioned file (slice {index} is truncated)")
    data = read(8 * (count + 1) + low * size, (high - low) * size) if high > low else b""
    if len(data) != (high - low) * size:
        raise TritterError(f"{uri}: damaged partitioned file (slice {index} is truncated)")
    return np.frombuffer(data, dtype=dtype)


def gather_slices(
    uris: list[str], index: int, count: int, dtype: np.dtype, what: str
) -> np.ndarray:
    """Slice `index` of every producer's partitioned file, concatenated; a one-line error
    naming the first producer whose file is missing (`what`: e.g. "exact unit {} ...").
    From S3 the (small, many) ranged reads run `_S3_READERS` at a time."""

    def read(producer: int) -> np.ndarray:
        try:
            return read_slice(uris[producer], index, count, dtype)
        except FileNotFoundError as err:
            raise TritterError(f"{what.format(producer)} ({uris[producer]} is missing)") from err

    if uris and storage.is_s3(uris[0]):
        with ThreadPoolExecutor(_S3_READERS) as pool:
            parts = list(pool.map(read, range(len(uris))))
    else:
        parts = [read(producer) for producer in range(len(uris))]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def concat(
    chunks: list[np.ndarray], dtype: npt.DTypeLike, shape: tuple[int, ...] = ()
) -> np.ndarray:
    """Concatenate per-batch arrays; an empty list gives an empty array of that shape."""
    if not chunks:
        return np.zeros((0, *shape), dtype=dtype)
    return np.concatenate(chunks).astype(dtype, copy=False)
