"""Ingest: turn `--input` into work units (at plan time) and documents (in each shard).

Source kinds:

* **files**: a source tree in a local folder or under an `s3://` prefix, or `python-stdlib`.
  Every regular file (and every broken symlink or unreadable entry) is one input document.
  Directory symlinks are not followed (no cycles, no double counting); version-control
  folders and `__pycache__` are not part of the tree. Language comes from the extension.
* **records**: JSONL (`.jsonl`, `.jsonl.gz`, `.ndjson`) or Parquet document sets: one file, or
  a folder/prefix holding only such files. Each record is one input document; its text is the
  `text` (or `content`, `code`) field, and `language`/`lang`, `path`, `repo`, `stars` and
  license fields (and The Stack's names for them, `PATH_FIELDS`, `REPO_FIELDS`, `STAR_FIELDS`)
  are used when present; dates feed `repos` (freshness). A corrupt JSONL line is counted
  (`corrupt_record`), never fatal; an unreadable Parquet file stops the run naming the file.
* **hf**: `hf://DATASET[:CONFIG][:SPLIT]` through `datasets` streaming (a hub name, or a local
  dataset folder such as `hf:///data/my_dataset`); its data files are split across work units.

Name-based decisions (config file, boilerplate name, vendored path, unknown language, language
not selected, too large) are made without reading the document.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import sysconfig
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tritter import storage
from tritter.curate import languages, licenses
from tritter.curate.config import CurateConfig
from tritter.errors import TritterError

if TYPE_CHECKING:
    import datasets
    import pyarrow.parquet as pq

STDLIB = "python-stdlib"
STDLIB_LICENSE = "psf-2.0"
RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".parquet")
TEXT_FIELDS = ("text", "content", "code")
# Record fields read as metadata, first present wins. The Stack v1 names the repository with
# the most stars holding the file (`max_stars_repo_name`, `max_stars_repo_path`,
# `max_stars_count`); The Stack v2 uses `repo_name`, `path` and `star_events_count`.
PATH_FIELDS = ("path", "max_stars_repo_path", "file_path", "filepath", "source")
REPO_FIELDS = ("repo", "max_stars_repo_name", "repo_name", "repository")
STAR_FIELDS = ("stars", "max_stars_count", "star_events_count", "star_count", "stargazers_count")
_MB = 1_000_000

# The drop reasons decided while reading, before a document's content is looked at (a
# `RawDoc.reason`), in the order the manifest lists them.
REASONS = (
    "unreadable",  # a broken symlink, special file or failed read
    "vendored",  # a path under node_modules/, vendor/, site-packages/ ...
    "config",  # configuration and lock files
    "boilerplate",  # LICENSE, CHANGELOG, AUTHORS ... (content-based boilerplate counts here too)
    "not_source",  # no known language
    "language_excluded",  # not among --languages
    "too_large",  # over --max-bytes
    "corrupt_record",  # a document-set record that is not an object or has no text
)


@dataclass
class Source:
    """A resolved `--input`."""

    kind: str  # "files" | "records" | "hf"
    label: str  # the `source` column: what the user named
    root: str = ""  # files/records: root URI
    repo: str | None = None
    declared_license: str | None = None  # the source's own declaration (python-stdlib)
    declaration_note: str = ""
    hf: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "root": self.root,
            "repo": self.repo,
            "declared_license": self.declared_license,
            "declaration_note": self.declaration_note,
            "hf": self.hf,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Source:
        return cls(**data)


@dataclass
class RawDoc:
    """One input document, before any content check. `reason` set: already dropped."""

    path: str
    size: int
    data: bytes | None = None
    text: str | None = None
    language: str | None = None
    reason: str | None = None
    detail: str = ""
    repo: str | None = None
    stars: int | None = None
    source: str = ""
    record: dict[str, Any] | None = None  # record fields (license lookup) for document sets


@dataclass
class Listing:
    """The plan's view of a source: work units plus what license lookup needs."""

    units: list[dict[str, Any]]
    digest: str
    input_files: int = 0
    input_bytes: int = 0
    license_files: list[str] = field(default_factory=list)
    metadata_files: list[str] = field(default_factory=list)
    dist_owner: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Resolving --input


def resolve(config: CurateConfig) -> Source:
    text = config.input.strip()
    if text == STDLIB:
        root = sysconfig.get_paths()["stdlib"]
        if not os.path.isdir(root):
            raise TritterError(f"{STDLIB}: standard library folder {root} not found")
        return Source(
            kind="files",
            label=STDLIB,
            root=root,
            repo="python/cpython",
            declared_license=STDLIB_LICENSE,
            declaration_note=(
                "python-stdlib declares PSF-2.0: the CPython standard library is distributed "
                "under the PSF License Agreement (LICENSE.txt in the stdlib folder); PSF-2.0 is "
                "permissive and added to the allowlist for this source"
            ),
        )
    if text.startswith("hf://"):
        return Source(kind="hf", label=text, hf=parse_hf(text))
    if not storage.is_s3(text):
        path = storage.local_path(text).expanduser()
        if not path.exists() and not path.is_symlink():
            raise TritterError(f"{text}: input not found")
        text = str(path.absolute())
    kind = _detect_kind(text, config.input_format)
    return Source(kind=kind, label=config.input.strip(), root=text)


def parse_hf(uri: str) -> dict[str, str | None]:
    """`hf://name[:config][:split]` → {"name", "config", "split"} (split defaults to train)."""
    rest = uri[len("hf://") :]
    parts = rest.split(":")
    if not parts[0]:
        raise TritterError(f"{uri}: expected hf://DATASET[:CONFIG][:SPLIT]")
    if len(parts) > 3:
        raise TritterError(f"{uri}: too many ':' parts (expected hf://DATASET[:CONFIG][:SPLIT])")
    name = parts[0]
    config = parts[1] or None if len(parts) > 1 else None
    split = (parts[2] or "train") if len(parts) > 2 else "train"
    return {"name": name, "config": config, "split": split}


def _is_record_file(name: str) -> bool:
    return name.lower().endswith(RECORD_SUFFIXES)


def _detect_kind(root: str, input_format: str) -> str:
    if input_format == "files":
        return "files"
    if input_format in ("jsonl", "parquet"):
        return "records"
    if _is_record_file(root) and (storage.is_s3(root) or os.path.isfile(root)):
        return "records"
    if not storage.is_s3(root) and os.path.isfile(root):
        return "files"
    objects = _list_plain(root)
    names = [o.uri for o in objects if not storage.basename(o.uri).startswith(("_", "."))]
    if names and all(_is_record_file(name) for name in names):
        return "records"
    return "files"


def _list_plain(root: str) -> list[storage.ObjectInfo]:
    if storage.is_s3(root):
        return storage.list_objects(root)
    return [storage.ObjectInfo(os.path.join(root, e.rel), e.size) for e in _walk_local(root, None)]


# --------------------------------------------------------------------------------------------
# Listing a source tree


@dataclass
class _Entry:
    rel: str
    size: int
    status: str = "ok"  # ok | broken_symlink | unreadable


def _walk_local(
    root: str, exclude: str | None, prune_top: frozenset[str] = frozenset()
) -> list[_Entry]:
    """Every file under `root` (sorted), without following directory symlinks."""
    if os.path.isfile(root):
        return [_Entry(os.path.basename(root), os.path.getsize(root))]
    entries: list[_Entry] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        folder = os.path.join(root, rel_dir) if rel_dir else root
        if exclude and os.path.abspath(folder) == exclude:
            continue
        try:
            with os.scandir(folder) as scan:
                items = list(scan)
        except OSError:
            entries.append(_Entry(rel_dir + "/", 0, "unreadable"))
            continue
        for item in items:
            rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
            if item.name.startswith(storage.TEMP_PREFIX):
                continue
            try:
                if item.is_dir(follow_symlinks=False):
                    if item.name in languages.SKIP_DIRS or (not rel_dir and item.name in prune_top):
                        continue
                    stack.append(rel)
                    continue
                if item.is_symlink():
                    try:
                        target = os.stat(item.path)
                    except OSError:
                        entries.append(_Entry(rel, 0, "broken_symlink"))
                        continue
                    if stat.S_ISDIR(target.st_mode):
                        continue  # directory symlinks are not followed
                    info = target
                else:
                    info = item.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode):
                    entries.append(_Entry(rel, 0, "unreadable"))  # FIFO, socket, device
                    continue
                entries.append(_Entry(rel, int(info.st_size), f"ok:{info.st_mtime_ns}"))
            except OSError:
                entries.append(_Entry(rel, 0, "unreadable"))
    entries.sort(key=lambda e: e.rel)
    return entries


def _list_tree(source: Source, output: str) -> list[_Entry]:
    if storage.is_s3(source.root):
        prefix = source.root.rstrip("/") + "/"
        out_prefix = output.rstrip("/") + "/"
        return [
            _Entry(o.uri[len(prefix) :], o.size)
            for o in storage.list_objects(source.root)
            if not o.uri.startswith(out_prefix)
        ]
    exclude = None if storage.is_s3(output) else os.path.abspath(storage.local_path(output))
    prune = frozenset({"site-packages", "dist-packages"}) if source.label == STDLIB else frozenset()
    return _walk_local(source.root, exclude, prune)


def list_source(source: Source, config: CurateConfig) -> Listing:
    """Enumerate the source into work units (the plan step)."""
    if source.kind == "files":
        return _list_files(source, config)
    if source.kind == "records":
        return _list_records(source, config)
    return _list_hf(source, config)


def _list_files(source: Source, config: CurateConfig) -> Listing:
    entries = _list_tree(source, config.output)
    digest = hashlib.sha256()
    units: list[dict[str, Any]] = []
    current: list[list[Any]] = []
    current_bytes = 0
    limit = config.shard_mb * _MB
    for entry in entries:
        digest.update(f"{entry.rel}\0{entry.size}\0{entry.status}\n".encode())
        status = entry.status.split(":", 1)[0]
        current.append([entry.rel, entry.size, status])
        if status == "ok" and languages.language_of(entry.rel) is not None:
            current_bytes += min(entry.size, config.max_bytes)
        if current_bytes >= limit or len(current) >= config.shard_files:
            units.append({"kind": "files", "items": current})
            current, current_bytes = [], 0
    if current or not units:
        units.append({"kind": "files", "items": current})
    listing = Listing(
        units=units,
        digest=digest.hexdigest(),
        input_files=len(entries),
        input_bytes=sum(e.size for e in entries),
    )
    ok = [e.rel for e in entries if e.status.startswith("ok")]
    listing.license_files = [rel for rel in ok if licenses.is_license_file(rel)]
    listing.metadata_files = [rel for rel in ok if licenses.is_metadata_file(rel)]
    records = [rel for rel in ok if licenses.is_dist_record(rel)]
    texts = {}
    for rel in records:
        text = read_tree_text(source, rel)
        if text is not None:
            texts[rel.rsplit("/", 1)[0]] = text
    listing.dist_owner = licenses.dist_owner_map(texts)
    return listing


def read_tree_text(source: Source, rel: str, limit: int = 2_000_000) -> str | None:
    """A small text file of the tree (LICENSE, METADATA…), or None when unreadable."""
    try:
        data = storage.read_bytes(_tree_uri(source, rel))
    except (OSError, TritterError):
        return None
    return data[:limit].decode("utf-8", errors="replace")


def _tree_uri(source: Source, rel: str) -> str:
    if os.path.isfile(source.root) and not storage.is_s3(source.root):
        return source.root
    return storage.join(source.root, *rel.split("/"))


def _list_records(source: Source, config: CurateConfig) -> Listing:
    if storage.is_s3(source.root):
        objects = (
            [storage.ObjectInfo(source.root, storage.size(source.root))]
            if _is_record_file(source.root)
            else storage.list_objects(source.root)
        )
    elif os.path.isfile(source.root):
        objects = [storage.ObjectInfo(source.root, os.path.getsize(source.root))]
    else:
        objects = _list_plain(source.root)
    files = [o for o in objects if _is_record_file(o.uri)]
    if not files:
        raise TritterError(f"{source.root}: no .jsonl/.jsonl.gz/.parquet files to read")
    digest = hashlib.sha256()
    units: list[dict[str, Any]] = []
    limit = max(int(config.shard_mb * _MB), 1)
    for info in files:
        digest.update(f"{info.uri}\0{info.size}\n".encode())
        if info.uri.lower().endswith(".parquet"):
            units.extend(_parquet_units(info.uri, limit))
        elif info.uri.lower().endswith(".gz") or info.size <= limit:
            units.append({"kind": "jsonl", "uri": info.uri, "start": 0, "end": info.size})
        else:
            for start in range(0, info.size, limit):
                end = min(start + limit, info.size)
                units.append({"kind": "jsonl", "uri": info.uri, "start": start, "end": end})
    return Listing(
        units=units,
        digest=digest.hexdigest(),
        input_files=len(files),
        input_bytes=sum(o.size for o in files),
    )


class _RangeFile(io.RawIOBase):
    """A read-only file over `storage.read_range`, so pyarrow reads Parquet footers and row
    groups from S3 without downloading whole files."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.length = storage.size(uri)
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = storage.read_range(self.uri, self.position, len(view))
        view[: len(data)] = data
        self.position += len(data)
        return len(data)


def open_parquet(uri: str) -> pq.ParquetFile:
    """A `pyarrow.parquet.ParquetFile`; a one-line error naming the file when it is corrupt."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = io.BufferedReader(_RangeFile(uri), buffer_size=1 << 20)
        return pq.ParquetFile(handle)
    except FileNotFoundError as err:
        raise TritterError(f"{uri}: not found") from err
    except (pa.ArrowException, OSError, ValueError) as err:
        raise TritterError(f"{uri}: not a readable Parquet file ({err})") from err


def _parquet_units(uri: str, limit: int) -> list[dict[str, Any]]:
    metadata = open_parquet(uri).metadata
    units: list[dict[str, Any]] = []
    groups: list[int] = []
    size = 0
    for index in range(metadata.num_row_groups):
        groups.append(index)
        size += metadata.row_group(index).total_byte_size
        if size >= limit:
            units.append({"kind": "parquet", "uri": uri, "row_groups": groups})
            groups, size = [], 0
    if groups or not units:
        units.append({"kind": "parquet", "uri": uri, "row_groups": groups})
    return units


def _open_hf(source: Source) -> datasets.IterableDataset:
    spec = source.hf
    try:
        import datasets

        return datasets.load_dataset(
            spec["name"], spec["config"], split=spec["split"], streaming=True
        )
    except Exception as err:  # datasets raises many unrelated types for a bad name/offline hub
        raise TritterError(
            f"{source.label}: cannot open dataset ({type(err).__name__}: {err})"
        ) from err


def _list_hf(source: Source, config: CurateConfig) -> Listing:
    dataset = _open_hf(source)
    shards = max(1, int(getattr(dataset, "num_shards", None) or dataset.n_shards))
    units = [{"kind": "hf", "num_shards": shards, "index": i} for i in range(shards)]
    digest = hashlib.sha256(json.dumps({**source.hf, "shards": shards}).encode()).hexdigest()
    return Listing(units=units, digest=digest)


# --------------------------------------------------------------------------------------------
# Reading one work unit


def read_unit(source: Source, unit: dict[str, Any], config: CurateConfig) -> Iterator[RawDoc]:
    kind = unit["kind"]
    if kind == "files":
        yield from _read_files(source, unit["items"], config)
    elif kind == "jsonl":
        yield from _read_jsonl(source, unit, config)
    elif kind == "parquet":
        yield from _read_parquet(source, unit, config)
    elif kind == "hf":
        yield from _read_hf(source, unit, config)
    else:
        raise TritterError(f"unknown work unit kind '{kind}' in the plan")


def name_reason(path: str, language: str | None, config: CurateConfig) -> tuple[str | None, str]:
    """Drop decisions that need only the path: (reason, language)."""
    if languages.is_vendored(path):
        return "vendored", language or ""
    if language is None:
        if languages.is_config(path):
            return "config", ""
        if languages.is_boilerplate_name(path):
            return "boilerplate", ""
        return "not_source", ""
    if language in languages.DOC_LANGUAGES and languages.is_boilerplate_name(path):
        return "boilerplate", language  # CHANGELOG.md, LICENSE.rst (history.py is code)
    if config.languages and language not in config.languages:
        return "language_excluded", language
    return None, language


def _read_files(source: Source, items: list[list[Any]], config: CurateConfig) -> Iterator[RawDoc]:
    plans: list[tuple[RawDoc, bool]] = []
    for rel, size, status in items:
        doc = RawDoc(path=rel, size=int(size), source=source.label, repo=source.repo)
        if status != "ok":
            doc.reason, doc.detail = "unreadable", status
            plans.append((doc, False))
            continue
        doc.reason, doc.language = name_reason(rel, languages.language_of(rel), config)
        if doc.reason is None and doc.size > config.max_bytes:
            doc.reason = "too_large"
        plans.append((doc, doc.reason is None))

    def fetch(rel: str) -> bytes | str:
        try:
            return storage.read_bytes(_tree_uri(source, rel))
        except (OSError, TritterError) as err:
            return type(err).__name__

    needed = [doc.path for doc, read in plans if read]
    if storage.is_s3(source.root):
        # Object stores answer one request at a time slowly; keep a few GETs in flight.
        with ThreadPoolExecutor(max_workers=8) as pool:
            contents = iter(pool.map(fetch, needed))
            yield from _attach(plans, contents, config)
    else:
        yield from _attach(plans, map(fetch, needed), config)


def _attach(
    plans: list[tuple[RawDoc, bool]], contents: Iterator[bytes | str], config: CurateConfig
) -> Iterator[RawDoc]:
    for doc, read in plans:
        if read:
            data = next(contents)
            if isinstance(data, str):
                doc.reason, doc.detail = "unreadable", data
            elif len(data) > config.max_bytes:  # grew since the listing
                doc.reason, doc.size = "too_large", len(data)
            else:
                doc.data, doc.size = data, len(data)
        yield doc


def _text_of(record: dict[str, Any], config: CurateConfig) -> object:
    if config.text_field:
        return record.get(config.text_field)
    for name in TEXT_FIELDS:
        if name in record:
            return record[name]
    return None


def record_doc(record: Any, locator: str, source_label: str, config: CurateConfig) -> RawDoc:
    """A document-set record → RawDoc (name-based decisions included)."""
    if not isinstance(record, dict):
        return RawDoc(
            path=locator,
            size=0,
            reason="corrupt_record",
            detail="not an object",
            source=source_label,
        )
    text = _text_of(record, config)
    if isinstance(text, bytes):
        data = text
        text = None
    elif isinstance(text, str):
        data = None
    else:
        return RawDoc(
            path=locator,
            size=0,
            reason="corrupt_record",
            detail="no text field",
            source=source_label,
        )
    path = first_str(record, PATH_FIELDS)
    doc = RawDoc(
        path=path or locator,
        size=len(data) if data is not None else len(text.encode("utf-8", "surrogatepass")),
        data=data,
        text=text,
        source=source_label,
        repo=first_str(record, REPO_FIELDS),
        stars=_first_int(record, STAR_FIELDS),
        record=record,
    )
    language = languages.normalize_language(
        first_str(record, ("language", "lang", "programming_language"))
    ) or (languages.language_of(path) if path else None)
    doc.reason, doc.language = name_reason(path or "", language, config)
    if doc.reason is None and doc.size > config.max_bytes:
        doc.reason = "too_large"
    if doc.reason is not None:
        doc.text = doc.data = None
    return doc


def first_str(record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of `keys` holding a non-blank string, stripped."""
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _first_int(record: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            return int(value)
    return None


def _read_jsonl(source: Source, unit: dict[str, Any], config: CurateConfig) -> Iterator[RawDoc]:
    uri, start, end = unit["uri"], int(unit["start"]), int(unit["end"])
    name = _display(source, uri)
    if uri.lower().endswith(".gz"):
        try:
            raw = storage.read_bytes(uri)
            blob = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise TritterError(f"{uri}: unreadable gzip file ({err})") from err
        first_line = 1
    else:
        # Lines belong to the unit where they start; a unit reads on to the end of its last line.
        lead = storage.read_range(uri, start - 1, 1) if start > 0 else b"\n"
        blob = storage.read_range(uri, start, end - start)
        if end < storage.size(uri) and not blob.endswith(b"\n"):
            blob += _read_to_newline(uri, end)
        if lead != b"\n":
            cut = blob.find(b"\n")
            blob = b"" if cut < 0 else blob[cut + 1 :]
            start = -1  # line numbers are not known mid-file: locate by byte offset
        first_line = 1
    offset = max(start, 0)
    for number, line in enumerate(blob.split(b"\n"), first_line):
        line_offset = offset
        offset += len(line) + 1
        if not line.strip():
            continue
        locator = f"{name}:{number}" if start == 0 else f"{name}@{line_offset}"
        try:
            record = json.loads(line)
        except ValueError:
            yield RawDoc(
                path=locator,
                size=len(line),
                reason="corrupt_record",
                detail="invalid JSON",
                source=name,
            )
            continue
        yield record_doc(record, locator, name, config)


def _read_to_newline(uri: str, position: int) -> bytes:
    chunks = []
    while True:
        chunk = storage.read_range(uri, position, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        cut = chunk.find(b"\n")
        if cut >= 0:
            chunks.append(chunk[: cut + 1])
            return b"".join(chunks)
        chunks.append(chunk)
        position += len(chunk)


def _read_parquet(source: Source, unit: dict[str, Any], config: CurateConfig) -> Iterator[RawDoc]:
    import pyarrow as pa

    uri = unit["uri"]
    name = _display(source, uri)
    handle = open_parquet(uri)
    row = sum(handle.metadata.row_group(i).num_rows for i in range(min(unit["row_groups"] or [0])))
    for group in unit["row_groups"]:
        try:
            table = handle.read_row_group(group)
        except (pa.ArrowException, OSError) as err:
            raise TritterError(f"{uri}: row group {group} is unreadable ({err})") from err
        for record in table.to_pylist():
            yield record_doc(record, f"{name}#{row}", name, config)
            row += 1


def _read_hf(source: Source, unit: dict[str, Any], config: CurateConfig) -> Iterator[RawDoc]:
    dataset = _open_hf(source)
    if unit["num_shards"] > 1:
        dataset = dataset.shard(num_shards=unit["num_shards"], index=unit["index"])
    label = source.label
    try:
        for row, record in enumerate(dataset):
            yield record_doc(record, f"{label}#{unit['index']}:{row}", label, config)
    except TritterError:
        raise
    except Exception as err:  # datasets/fsspec errors while streaming
        raise TritterError(f"{label}: reading shard {unit['index']} failed ({err})") from err


def _display(source: Source, uri: str) -> str:
    """A record file's name relative to the input (what `source`/`path` columns show)."""
    root = source.root.rstrip("/")
    if uri == root:
        return storage.basename(uri)
    if uri.startswith(root + "/"):
        return uri[len(root) + 1 :]
    return uri
