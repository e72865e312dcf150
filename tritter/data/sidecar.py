"""The document sidecar of a token shard: which curated documents it holds, and where.

    <split>/<subset>/<NNNNN>.documents.parquet   one row per document copy, in shard order:
        id, repo, path, sha256 (of the curated text), language, text_bytes (the rendered text
        that was tokenized), start, end: the copy is tokens[start:end] (its EOS included)

Row d is document d of the `.docs.npy` boundaries (a document packed twice has two rows), so
the sidecar says what every token belongs to without decoding a single one. It lives beside the
`.npy` files rather than inside them so that the token format stays plain `.npy`; a takedown
(`tritter.takedown`) finds the shards holding a repository, id or path from sidecars alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tritter.data.shardfile import TOKENS_SUFFIX
from tritter.errors import TritterError

SIDECAR_SUFFIX = ".documents.parquet"
SIDECAR_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("repo", pa.string()),
        pa.field("path", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("text_bytes", pa.int64(), nullable=False),
        pa.field("start", pa.int64(), nullable=False),
        pa.field("end", pa.int64(), nullable=False),
    ]
)


def sidecar_path(tokens_path: str) -> str:
    """The sidecar beside a tokens file (`train/python/00003.documents.parquet`)."""
    return tokens_path[: -len(TOKENS_SUFFIX)] + SIDECAR_SUFFIX


def write_sidecar(path: Path, columns: dict[str, Any]) -> None:
    """Write the sidecar whole (one row group, zstd: a few bytes per document)."""
    table = pa.Table.from_pydict(
        {name: columns[name] for name in SIDECAR_SCHEMA.names}, schema=SIDECAR_SCHEMA
    )
    pq.write_table(table, path, compression="zstd")


def read_sidecar(path: Path, uri: str) -> pa.Table:
    """A sidecar checked against its schema; a one-line error naming `uri` otherwise."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise TritterError(f"{uri}: unreadable document sidecar ({err})") from err
    missing = [name for name in SIDECAR_SCHEMA.names if name not in table.column_names]
    if missing:
        raise TritterError(f"{uri}: not a document sidecar: missing column(s) {','.join(missing)}")
    return table.select(SIDECAR_SCHEMA.names).cast(SIDECAR_SCHEMA)


def check_matches_docs(table: pa.Table, docs: np.ndarray, uri: str) -> None:
    """The sidecar's spans are exactly the shard's document boundaries."""
    starts = table["start"].to_numpy()
    ends = table["end"].to_numpy()
    if len(docs) != table.num_rows + 1 or not (
        np.array_equal(starts, docs[:-1]) and np.array_equal(ends, docs[1:])
    ):
        raise TritterError(
            f"{uri}: document sidecar does not match its shard's .docs.npy (corrupt shard)"
        )
