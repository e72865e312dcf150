"""Finding what a takedown touches, without changing anything.

Curated shards are read column-wise (id, repo, path and the counted columns; never the text);
token shards through their document sidecars. Both are checked against their manifests first,
so a takedown never launders a corrupt or replaced file into a new manifest entry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from tritter import storage
from tritter.data import curated as curated_input
from tritter.data.sidecar import read_sidecar
from tritter.errors import TritterError
from tritter.manifest import FileEntry, manifest_uri
from tritter.run_folder import (
    PACK_MANIFEST,
    CurateManifest,
    PackManifest,
    ShardRecord,
    TakedownSelectors,
)
from tritter.takedown.selectors import matches

# What curation counts per kept document (`CurateCounts`), read to update the counts.
CURATED_COLUMNS = ("id", "repo", "path", "bytes", "language", "subset", "license", "quality_label")


@dataclass
class CuratedHit:
    """One curated shard holding named documents."""

    entry: FileEntry  # its curate manifest entry (path relative to curated/)
    rows: int  # rows removed
    bytes: int
    tallies: dict[str, Counter] = field(default_factory=dict)  # count name → value → rows
    paths: list[str] = field(default_factory=list)  # documents removed (repo/path), for the report


@dataclass
class ShardHit:
    """One token shard holding named document copies."""

    index: int  # in the pack manifest's extra.shards
    record: ShardRecord
    removed: np.ndarray  # bool per document copy (sidecar row)
    spans: list[tuple[int, int]]  # removed [start, end), shard-local token positions
    tokens: int  # tokens removed
    unique_tokens: int  # of distinct documents (pack counts a repeated document once)
    text_bytes: int  # rendered bytes of distinct documents
    language_tokens: Counter = field(default_factory=Counter)

    @property
    def documents(self) -> int:
        return int(self.removed.sum())


def curated_hits(
    curated: str, found: CurateManifest, chosen: TakedownSelectors
) -> list[CuratedHit]:
    if found.extra.format != "parquet":
        raise TritterError(
            f"{manifest_uri(curated)}: curated as {found.extra.format}; takedown rewrites "
            "Parquet curated shards only"
        )
    source = curated_input.open_input(curated)  # every shard present with its manifest size
    entries = {storage.join(curated, e.path): e for e in found.files}
    hits = []
    for shard in source.shards:
        parquet = shard.open()
        missing = [c for c in CURATED_COLUMNS if c not in parquet.schema_arrow.names]
        if missing:
            raise TritterError(f"{shard.uri}: not a curated shard: no column(s) {missing}")
        try:
            table = parquet.read(columns=list(CURATED_COLUMNS))
        except (pa.ArrowException, OSError) as err:
            raise TritterError(f"{shard.uri}: unreadable curated shard ({err})") from err
        named = matches(chosen, *(table[c].to_pylist() for c in ("id", "repo", "path")))
        if not named.any():
            continue
        removed = table.filter(pa.array(named))
        rows = removed.to_pylist()
        hits.append(
            CuratedHit(
                entry=entries[shard.uri],
                rows=len(rows),
                bytes=sum(r["bytes"] for r in rows),
                tallies={
                    name: Counter(r[column] for r in rows)
                    for name, column in (
                        ("labels", "quality_label"),
                        ("languages", "language"),
                        ("subsets", "subset"),
                        ("licenses", "license"),
                    )
                },
                paths=[f"{r['repo']}/{r['path']}" if r["repo"] else r["path"] for r in rows],
            )
        )
    return hits


def shard_hits(tokens: str, found: PackManifest, chosen: TakedownSelectors) -> list[ShardHit]:
    files = {e.path: e for e in found.files}
    old = [r.tokens for r in found.extra.shards if r.documents is None]
    if old:
        raise TritterError(
            f"{storage.join(tokens, old[0])}: packed without a document sidecar (an older "
            "pack): re-pack the run to take documents down from its token shards"
        )
    hits = []
    for index, record in enumerate(found.extra.shards):
        assert record.documents is not None
        table = read_checked_sidecar(tokens, record.documents, files)
        named = matches(chosen, *(table[c].to_pylist() for c in ("id", "repo", "path")))
        if not named.any():
            continue
        starts, ends = table["start"].to_numpy(), table["end"].to_numpy()
        lengths = ends - starts
        languages = table["language"].to_pylist()
        shas = table["sha256"].to_pylist()
        text_bytes = table["text_bytes"].to_numpy()
        language_tokens: Counter = Counter()
        distinct: dict[str, tuple[int, int]] = {}
        for row in np.flatnonzero(named):
            language_tokens[languages[row]] += int(lengths[row])
            distinct[shas[row]] = (int(lengths[row]), int(text_bytes[row]))
        hits.append(
            ShardHit(
                index=index,
                record=record,
                removed=named,
                spans=[(int(starts[r]), int(ends[r])) for r in np.flatnonzero(named)],
                tokens=int(lengths[named].sum()),
                unique_tokens=sum(n for n, _ in distinct.values()),
                text_bytes=sum(b for _, b in distinct.values()),
                language_tokens=language_tokens,
            )
        )
    return hits


def read_checked_sidecar(tokens: str, relative: str, files: dict[str, FileEntry]) -> pa.Table:
    """A sidecar whose sha256 is the one the pack manifest records."""
    uri = storage.join(tokens, relative)
    entry = files.get(relative)
    if entry is None:
        raise TritterError(f"{manifest_uri(tokens)}: lists no file entry for {relative}")
    try:
        with storage.local_copy(uri) as path:
            if storage.sha256_file(path) != entry.sha256:
                raise TritterError(
                    f"{uri}: sha256 differs from {manifest_uri(tokens)} (corrupt or replaced)"
                )
            return read_sidecar(path, uri)
    except FileNotFoundError as err:
        raise TritterError(f"{uri}: listed in {manifest_uri(tokens)} but missing") from err


def pack_manifest(tokens: str) -> PackManifest | None:
    """The finished pack of the run, None without a tokens folder; an unfinished one is an
    error (a takedown must not race a pack)."""
    found = PACK_MANIFEST.read(tokens)
    if found is None and storage.list_objects(tokens):
        raise TritterError(
            f"{tokens}: pack has not finished (no _manifest.json): finish or delete it first"
        )
    return found
