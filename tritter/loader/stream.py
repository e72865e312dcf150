"""A packed split (optionally one subset) as one contiguous token stream.

The shards of a split are concatenated in the order the pack manifest lists them; position `p`
of the stream lives in the shard whose start offset is the last one ≤ p. Local shards are
memory-mapped; S3 shards are read with byte-range GETs (token `i` is at `header + i ×
itemsize`). The small document-boundary files are cached on local disk, keyed by their sha256,
so a stale cache can never be used and a restart does not download them again.

Integrity checks, each a one-line `TritterError` naming the shard: sizes against the manifest
at open (a truncated or replaced file), the `.npy` header (dtype, length) on first use, the
sha256 of the small document-boundary and loss-span files when first opened, and the value
range of every window read (ids ≥ vocab size mean corruption). Token files are not hashed
here: training reads them at random, so it hashes them separately, one streaming pass per launch
split across ranks (`tritter.train.shard_check`, `verify_shards`); `tritter pack` hashes them
when it finds a finished folder.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tritter import storage
from tritter.data.shardfile import (
    DOCS_SUFFIX,
    MASK_SUFFIX,
    MAX_HEADER_PROBE,
    expected_size,
    parse_header,
)
from tritter.errors import TritterError
from tritter.manifest import Manifest, Record, manifest_uri, require_manifest
from tritter.run_folder import TOKEN_SHARDS, TokenShardsExtra


def default_cache_dir() -> Path:
    configured = os.environ.get("TRITTER_CACHE_DIR")
    if configured:
        return Path(configured) / "tokens"
    return Path(tempfile.gettempdir()) / f"tritter-cache-{os.getuid()}" / "tokens"


def read_token_shards(data_uri: str) -> Manifest[Record, Record, TokenShardsExtra]:
    """The manifest of a folder of token shards: written by `tritter pack` (pretraining text)
    or by the sft-data step (conversations with loss masks); the loader reads both alike."""
    found = require_manifest(data_uri)
    contract = TOKEN_SHARDS.get(found.stage)
    if contract is None:
        raise TritterError(
            f"{manifest_uri(data_uri)}: expected token shards (stage "
            f"{' or '.join(TOKEN_SHARDS)}), found stage '{found.stage}'"
        )
    return contract.parse(found, manifest_uri(data_uri))


@dataclass
class Shard:
    split: str
    subset: str
    tokens_uri: str
    docs_uri: str
    num_tokens: int
    num_documents: int
    tokens_size: int
    docs_size: int
    docs_sha256: str
    mask_uri: str | None = None  # loss spans; None: every token is a target
    mask_size: int = 0
    mask_sha256: str = ""
    start: int = 0  # stream offset of the shard's first token
    doc_start: int = 0  # stream index of the shard's first document


class TokenStream:
    """Random access to the tokens (and document numbers) of a split/subset stream."""

    def __init__(
        self,
        data_uri: str,
        split: str,
        subset: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data_uri = storage.normalize(data_uri)
        self.manifest = read_token_shards(self.data_uri)
        extra = self.manifest.extra
        self.vocab_size = extra.vocab_size
        self.dtype = np.dtype(extra.dtype)
        self.eos_id = extra.eos_id
        self.pad_id = extra.pad_id
        self.tokenizer_sha256 = extra.tokenizer_sha256
        self.remote = storage.is_s3(self.data_uri)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        files = {entry.path: entry for entry in self.manifest.files}
        table = [s for s in extra.shards if s.split == split]
        if not table:
            splits = sorted({s.split for s in extra.shards})
            raise TritterError(f"{self.data_uri}: no '{split}' shards (splits: {','.join(splits)})")
        if subset is not None:
            available = sorted({s.subset for s in table})
            table = [s for s in table if s.subset == subset]
            if not table:
                raise TritterError(
                    f"{self.data_uri}: no '{split}' shards for subset '{subset}' "
                    f"(subsets: {','.join(available)})"
                )
        self.shards: list[Shard] = []
        start = doc_start = 0
        for row in table:
            for path in (row.tokens, row.docs, *([row.mask] if row.mask else [])):
                if path not in files:
                    raise TritterError(f"{self.data_uri}: manifest lists no file entry for {path}")
            shard = Shard(
                split=row.split,
                subset=row.subset,
                tokens_uri=storage.join(self.data_uri, row.tokens),
                docs_uri=storage.join(self.data_uri, row.docs),
                num_tokens=row.num_tokens,
                num_documents=row.num_documents,
                tokens_size=files[row.tokens].size,
                docs_size=files[row.docs].size,
                docs_sha256=files[row.docs].sha256,
                mask_uri=storage.join(self.data_uri, row.mask) if row.mask else None,
                mask_size=files[row.mask].size if row.mask else 0,
                mask_sha256=files[row.mask].sha256 if row.mask else "",
                start=start,
                doc_start=doc_start,
            )
            start += shard.num_tokens
            doc_start += shard.num_documents
            if shard.num_tokens:
                self.shards.append(shard)
        self.total_tokens = start
        self.total_documents = doc_start
        self._starts = np.array([s.start for s in self.shards], dtype=np.int64)
        self._check_sizes(split)
        self._lock = threading.Lock()
        self._opening: dict[tuple[str, int], threading.Lock] = {}  # one lock per file to open
        self._tokens: dict[int, tuple[Any, int]] = {}  # shard → (memmap or None, data offset)
        self._docs: dict[int, np.ndarray] = {}
        self._spans: dict[int, np.ndarray] = {}
        # Either every shard carries loss spans (conversations) or none does (pretraining text).
        self.masked = any(shard.mask_uri for shard in self.shards)

    def _check_sizes(self, split: str) -> None:
        """Every shard file present with the size the manifest records (one listing)."""
        listed = {
            storage.normalize(o.uri): o.size
            for o in storage.list_objects(storage.join(self.data_uri, split))
        }
        for shard in self.shards:
            files = [(shard.tokens_uri, shard.tokens_size), (shard.docs_uri, shard.docs_size)]
            if shard.mask_uri:
                files.append((shard.mask_uri, shard.mask_size))
            for uri, size in files:
                found = listed.get(storage.normalize(uri))
                if found is None:
                    raise TritterError(f"{uri}: shard listed in the pack manifest is missing")
                if found != size:
                    raise TritterError(
                        f"{uri}: size {found} differs from the pack manifest's {size} "
                        "(truncated or corrupt shard)"
                    )

    # ---------------------------------------------------------------------------------------
    # Per-shard access (opened lazily, then cached)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tokens"], state["_docs"], state["_lock"], state["_opening"] = {}, {}, None, {}
        state["_spans"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _opening_lock(self, kind: str, index: int) -> threading.Lock:
        """The lock that lets one thread open a file while the others wait for it (the S3
        prefetch threads would otherwise all fetch the same header or index at once)."""
        with self._lock:
            return self._opening.setdefault((kind, index), threading.Lock())

    def _open_tokens(self, index: int) -> tuple[Any, int]:
        cached = self._tokens.get(index)
        if cached is not None:
            return cached
        with self._opening_lock("tokens", index):
            cached = self._tokens.get(index)
            return cached if cached is not None else self._open_tokens_now(index)

    def _open_tokens_now(self, index: int) -> tuple[Any, int]:
        shard = self.shards[index]
        if self.remote:
            head = storage.read_range(shard.tokens_uri, 0, min(MAX_HEADER_PROBE, shard.tokens_size))
            dtype, count, offset = parse_header(head, shard.tokens_uri)
            opened: tuple[Any, int] = (None, offset)
        else:
            path = storage.local_path(shard.tokens_uri)
            with open(path, "rb") as handle:
                dtype, count, offset = parse_header(handle.read(MAX_HEADER_PROBE), shard.tokens_uri)
            opened = (np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,)), offset)
        if dtype != self.dtype or count != shard.num_tokens:
            raise TritterError(
                f"{shard.tokens_uri}: holds {count} {dtype} tokens, the manifest says "
                f"{shard.num_tokens} {self.dtype} (corrupt shard)"
            )
        if expected_size(dtype, count, offset) != shard.tokens_size:
            raise TritterError(f"{shard.tokens_uri}: file size does not match its header (corrupt)")
        with self._lock:
            self._tokens[index] = opened
        return opened

    def _open_docs(self, index: int) -> np.ndarray:
        cached = self._docs.get(index)
        if cached is not None:
            return cached
        with self._opening_lock("docs", index):
            cached = self._docs.get(index)
            return cached if cached is not None else self._open_docs_now(index)

    def _local_copy(self, uri: str, size: int, sha256: str, suffix: str) -> Path:
        """A local file with the content the manifest records for a small shard file (the S3
        cache is keyed by sha256; a cached copy that does not match is fetched again)."""
        if self.remote:
            path = self.cache_dir / f"{sha256}{suffix}"
            cached = path.exists() and path.stat().st_size == size
            if cached and storage.sha256_file(path) == sha256:
                return path
            storage.download_file(uri, path)
        else:
            path = storage.local_path(uri)
        if storage.sha256_file(path) != sha256:
            raise TritterError(
                f"{uri}: sha256 differs from {manifest_uri(self.data_uri)} (corrupt shard file)"
            )
        return path

    def _open_docs_now(self, index: int) -> np.ndarray:
        shard = self.shards[index]
        path = self._local_copy(shard.docs_uri, shard.docs_size, shard.docs_sha256, DOCS_SUFFIX)
        try:
            docs = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as err:
            raise TritterError(f"{shard.docs_uri}: unreadable document index ({err})") from err
        if (
            docs.ndim != 1
            or len(docs) != shard.num_documents + 1
            or (len(docs) and (docs[0] != 0 or docs[-1] != shard.num_tokens))
        ):
            raise TritterError(
                f"{shard.docs_uri}: document index does not match its shard (corrupt)"
            )
        with self._lock:
            self._docs[index] = docs
        return docs

    def _open_spans(self, index: int) -> np.ndarray:
        cached = self._spans.get(index)
        if cached is not None:
            return cached
        with self._opening_lock("spans", index):
            cached = self._spans.get(index)
            return cached if cached is not None else self._open_spans_now(index)

    def _open_spans_now(self, index: int) -> np.ndarray:
        shard = self.shards[index]
        if shard.mask_uri is None:
            raise TritterError(f"{self.data_uri}: shard {index} has no loss spans (mixed folder)")
        path = self._local_copy(shard.mask_uri, shard.mask_size, shard.mask_sha256, MASK_SUFFIX)
        try:
            spans = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise TritterError(f"{shard.mask_uri}: unreadable loss spans ({err})") from err
        if (
            spans.ndim != 1
            or len(spans) % 2
            or (len(spans) and (spans[0] < 0 or spans[-1] > shard.num_tokens))
            or np.any(np.diff(spans) < 0)
        ):
            raise TritterError(f"{shard.mask_uri}: loss spans do not fit their shard (corrupt)")
        with self._lock:
            self._spans[index] = spans
        return spans

    def _shard_at(self, position: int) -> int:
        return int(np.searchsorted(self._starts, position, side="right") - 1)

    def _pieces(self, start: int, length: int) -> list[tuple[int, int, int, int]]:
        """(shard, local start, count, output offset) for each piece of [start, start + length)."""
        if start < 0 or start + length > self.total_tokens:
            raise IndexError(
                f"stream range [{start}, {start + length}) outside 0..{self.total_tokens}"
            )
        pieces = []
        index, done = self._shard_at(start), 0
        while done < length:
            shard = self.shards[index]
            local = start + done - shard.start
            count = min(length - done, shard.num_tokens - local)
            pieces.append((index, local, count, done))
            done += count
            index += 1
        return pieces

    # ---------------------------------------------------------------------------------------
    # Reads

    def read(self, start: int, length: int, out: np.ndarray | None = None) -> np.ndarray:
        """Tokens [start, start + length) of the stream as int64."""
        if out is None:
            out = np.empty(length, dtype=np.int64)
        for index, local, count, offset in self._pieces(start, length):
            memmap, data_offset = self._open_tokens(index)
            if memmap is not None:
                values = memmap[local : local + count]
            else:
                shard = self.shards[index]
                raw = storage.read_range(
                    shard.tokens_uri,
                    data_offset + local * self.dtype.itemsize,
                    count * self.dtype.itemsize,
                )
                if len(raw) != count * self.dtype.itemsize:
                    raise TritterError(f"{shard.tokens_uri}: short read (truncated shard)")
                values = np.frombuffer(raw, dtype=self.dtype)
            out[offset : offset + count] = values
        if length and int(out[:length].max()) >= self.vocab_size:
            bad = self.shards[self._shard_at(start)].tokens_uri
            raise TritterError(
                f"{bad}: token id {int(out[:length].max())} >= vocab size {self.vocab_size} "
                "(corrupt shard)"
            )
        return out

    def learned(self, start: int, length: int) -> np.ndarray:
        """For each position of [start, start + length): is its token a training target."""
        if not self.masked:
            return np.ones(length, dtype=bool)
        out = np.empty(length, dtype=bool)
        for index, local, count, offset in self._pieces(start, length):
            spans = self._open_spans(index)
            positions = np.arange(local, local + count, dtype=np.int64)
            # Inside a span exactly when an odd number of span edges lie at or before it.
            out[offset : offset + count] = np.searchsorted(spans, positions, side="right") % 2 == 1
        return out

    def document_numbers(self, start: int, length: int) -> np.ndarray:
        """For each position of [start, start + length): the stream index of its document."""
        out = np.empty(length, dtype=np.int64)
        for index, local, count, offset in self._pieces(start, length):
            docs = self._open_docs(index)
            positions = np.arange(local, local + count, dtype=np.int64)
            found = np.searchsorted(docs, positions, side="right") - 1
            out[offset : offset + count] = found + self.shards[index].doc_start
        return out
