"""Reading the curate stage's output: Parquet shards (`tritter.schema.CURATED_SCHEMA`).

Tokenizer training and packing both start here. Planning needs only a few small columns of
every document (sha256, subset, language, bytes, label), so shards are opened through a
seekable range reader: on S3 pyarrow fetches the footer and the requested column chunks, never
the text of documents it does not need.

Integrity: `open_input` checks every shard's size against the curate manifest; `verify` (what
a stage calls before it reads documents) streams every shard once and compares its sha256 with
the manifest, so a same-size corruption is a one-line error naming the shard and the manifest
instead of a decompression traceback halfway through.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tritter import storage
from tritter.errors import TritterError
from tritter.manifest import manifest_uri
from tritter.run_folder import CURATE_MANIFEST

# Columns planning reads for every document; `text` and `explanation` are read only for the
# documents a step actually uses.
META_COLUMNS = ("sha256", "subset", "language", "bytes", "quality_label")
TEXT_COLUMNS = ("text", "explanation")


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over `storage.read_range` (for Parquet on S3)."""

    def __init__(self, uri: str, size: int) -> None:
        self.uri, self.length, self.position = uri, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.length - self.position
        data = storage.read_range(self.uri, self.position, min(size, self.length - self.position))
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# Shards hashed at once by `verify` (hashlib releases the GIL; S3 reads overlap).
VERIFY_THREADS = 8


@dataclass(frozen=True)
class CuratedShard:
    index: int
    uri: str
    size: int
    sha256: str = ""  # as the curate manifest records it ("" when not known)

    def open(self) -> pq.ParquetFile:
        try:
            if storage.is_s3(self.uri):
                return pq.ParquetFile(pa.PythonFile(RangeFile(self.uri, self.size), mode="r"))
            return pq.ParquetFile(storage.local_path(self.uri))
        except (pa.ArrowInvalid, OSError) as err:
            raise TritterError(f"{self.uri}: not a readable Parquet file ({err})") from err


@dataclass(frozen=True)
class CuratedInput:
    uri: str
    fingerprint: str
    shards: list[CuratedShard]


def open_input(uri: str) -> CuratedInput:
    """The finished curate output at `uri`: its manifest and Parquet shards, checked."""
    found = CURATE_MANIFEST.require(uri)
    entries = sorted(
        (entry for entry in found.files if entry.path.endswith(".parquet")), key=lambda e: e.path
    )
    if not entries:
        jsonl = found.extra.format == "jsonl"
        hint = " (it was written with --format jsonl; packing reads Parquet)" if jsonl else ""
        raise TritterError(
            f"{uri}: empty curated input: the manifest lists no Parquet shards{hint}"
        )
    listed = {
        storage.normalize(o.uri): o.size for o in storage.list_objects(uri, suffix=".parquet")
    }
    shards = []
    for index, entry in enumerate(entries):
        shard_uri = storage.join(uri, entry.path)
        key = storage.normalize(shard_uri)
        if key not in listed:
            raise TritterError(f"{shard_uri}: listed in the curated manifest but missing")
        if listed[key] != entry.size:
            raise TritterError(
                f"{shard_uri}: size {listed[key]} differs from the curated manifest's "
                f"{entry.size} (truncated or replaced)"
            )
        shards.append(CuratedShard(index, shard_uri, entry.size, entry.sha256))
    return CuratedInput(storage.normalize(uri), found.fingerprint, shards)


def verify(curated: CuratedInput) -> None:
    """Stream every shard once and compare its sha256 with the curate manifest's; a one-line
    error naming the first shard that differs and the manifest."""

    def mismatch(shard: CuratedShard) -> str | None:
        return shard.uri if storage.sha256_uri(shard.uri) != shard.sha256 else None

    with ThreadPoolExecutor(min(VERIFY_THREADS, len(curated.shards))) as pool:
        bad = [uri for uri in pool.map(mismatch, curated.shards) if uri]
    if bad:
        raise TritterError(
            f"{bad[0]}: sha256 differs from {manifest_uri(curated.uri)} (corrupt or replaced "
            f"curated shard{f'; {len(bad) - 1} more' if len(bad) > 1 else ''}): re-run curation"
        )


def _read_failed(shard: CuratedShard, err: Exception) -> TritterError:
    """A shard that fails to decode (corrupted after the checks above, or read by a step that
    did not verify it): one line naming it, not pyarrow's traceback."""
    return TritterError(
        f"{shard.uri}: unreadable curated shard ({err}); compare it with the sha256 in "
        f"{manifest_uri(shard.uri.rsplit('/', 1)[0])}"
    )


def _check_columns(shard: CuratedShard, parquet: pq.ParquetFile, columns: tuple[str, ...]) -> None:
    names = set(parquet.schema_arrow.names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise TritterError(
            f"{shard.uri}: not a curated shard: missing column(s) {','.join(missing)} "
            "(expected tritter.schema.CURATED_SCHEMA)"
        )


@dataclass
class DocumentTable:
    """Planning columns for every document of every shard, as numpy arrays (one row per doc)."""

    shard: np.ndarray  # int32: index of the curated shard
    row: np.ndarray  # int64: row within that shard
    sha256: np.ndarray  # object: hex digest of the UTF-8 text
    subset: np.ndarray  # object
    language: np.ndarray  # object
    nbytes: np.ndarray  # int64: UTF-8 size of text
    negative: np.ndarray  # bool: quality_label == "negative"

    def __len__(self) -> int:
        return len(self.row)

    def select(self, mask: np.ndarray) -> DocumentTable:
        return DocumentTable(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def read_metadata(curated: CuratedInput) -> DocumentTable:
    """Planning columns of every document (no text is read)."""
    parts: list[dict[str, np.ndarray]] = []
    for shard in curated.shards:
        parquet = shard.open()
        _check_columns(shard, parquet, META_COLUMNS + TEXT_COLUMNS[:1])
        try:
            table = parquet.read(columns=list(META_COLUMNS))
        except (pa.ArrowException, OSError) as err:
            raise _read_failed(shard, err) from err
        rows = table.num_rows
        parts.append(
            {
                "shard": np.full(rows, shard.index, dtype=np.int32),
                "row": np.arange(rows, dtype=np.int64),
                "sha256": np.asarray(table["sha256"].to_pylist(), dtype=object),
                "subset": np.asarray(table["subset"].to_pylist(), dtype=object),
                "language": np.asarray(table["language"].to_pylist(), dtype=object),
                "nbytes": table["bytes"].to_numpy(zero_copy_only=False).astype(np.int64),
                "negative": np.asarray(
                    [label == "negative" for label in table["quality_label"].to_pylist()],
                    dtype=bool,
                ),
            }
        )
    if not parts or sum(len(p["row"]) for p in parts) == 0:
        raise TritterError(f"{curated.uri}: empty curated input: no documents in any shard")
    return DocumentTable(**{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})


def read_rows(
    shard: CuratedShard, rows: np.ndarray, columns: tuple[str, ...] = TEXT_COLUMNS
) -> dict[str, list[Any]]:
    """The given columns for the given rows (sorted ascending) of one shard.

    Only the row groups that hold those rows are read.
    """
    parquet = shard.open()
    _check_columns(shard, parquet, columns)
    rows = np.asarray(rows, dtype=np.int64)
    out: dict[str, list[Any]] = {c: [] for c in columns}
    if len(rows) == 0:
        return out
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    starts = np.cumsum([0, *sizes])
    for group in range(parquet.num_row_groups):
        lo, hi = int(starts[group]), int(starts[group + 1])
        wanted = rows[(rows >= lo) & (rows < hi)]
        if len(wanted) == 0:
            continue
        try:
            table = parquet.read_row_group(group, columns=list(columns))
        except (pa.ArrowException, OSError) as err:
            raise _read_failed(shard, err) from err
        table = table.take(pa.array(wanted - lo))
        for column in columns:
            out[column].extend(table[column].to_pylist())
    return out
