"""Rewriting one file without the named documents, into a local folder (published later).

Each rewrite depends only on the old file's own content and the selectors, so it is
deterministic: a takedown resumed after a crash produces the same bytes (and sha256) again.

Token shards are compacted: the remaining documents keep their order and move up, so the shard
gets shorter and `.docs.npy` and the sidecar get the new spans. No padding or placeholder is
left where a document was (the loader's samples are windows over the concatenated stream, so a
shorter shard is just a shorter stream).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tritter.data.shardfile import MAX_HEADER_PROBE, TokenFileWriter, parse_header, write_docs
from tritter.data.sidecar import check_matches_docs, read_sidecar, write_sidecar
from tritter.errors import TritterError
from tritter.run_folder import TakedownSelectors
from tritter.takedown.selectors import matches

# The curated shards' codec (`tritter.curate.output.COMPRESSION`).
CURATED_COMPRESSION = "zstd"


def curated_shard(source: Path, uri: str, chosen: TakedownSelectors, target: Path) -> int:
    """`source` without the named rows, as `target`; returns the rows removed."""
    try:
        parquet = pq.ParquetFile(source)
        table = parquet.read()
    except (pa.ArrowException, OSError) as err:
        raise TritterError(f"{uri}: unreadable curated shard ({err})") from err
    named = matches(chosen, *(table[c].to_pylist() for c in ("id", "repo", "path")))
    groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    pq.write_table(
        table.filter(pa.array(~named)),
        target,
        compression=CURATED_COMPRESSION,
        row_group_size=max(groups, default=None) or None,
    )
    return int(named.sum())


def token_shard(
    sidecar: Path,
    sidecar_uri: str,
    docs: Path | None,
    tokens: Path | None,
    tokens_uri: str,
    chosen: TakedownSelectors,
    target: Path,
) -> dict[str, Path]:
    """The shard's three files without the named copies, under `target` (keys tokens, docs,
    documents), from the old sidecar; `docs` or `tokens` None: that file is rewritten already
    (only the others are made)."""
    table = read_sidecar(sidecar, sidecar_uri)
    ends = table["end"].to_numpy()
    boundaries = np.concatenate([[0], ends]).astype(np.int64)
    if docs is not None:
        boundaries = np.load(docs, allow_pickle=False)
        check_matches_docs(table, boundaries, sidecar_uri)
    named = matches(chosen, *(table[c].to_pylist() for c in ("id", "repo", "path")))
    kept = table.filter(pa.array(~named))
    starts, ends = kept["start"].to_numpy(), kept["end"].to_numpy()
    new_bounds = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
    out = {"docs": target / "docs.npy", "documents": target / "documents.parquet"}
    write_docs(out["docs"], new_bounds)
    write_sidecar(
        out["documents"],
        {**kept.to_pydict(), "start": new_bounds[:-1], "end": new_bounds[1:]},
    )
    if tokens is not None:
        with open(tokens, "rb") as handle:
            dtype, count, offset = parse_header(handle.read(MAX_HEADER_PROBE), tokens_uri)
        if count != int(boundaries[-1]):
            raise TritterError(
                f"{tokens_uri}: holds {count} tokens, its .docs.npy says "
                f"{int(boundaries[-1])} (corrupt shard)"
            )
        data = np.memmap(tokens, dtype=dtype, mode="r", offset=offset, shape=(count,))
        out["tokens"] = target / "tokens.npy"
        writer = TokenFileWriter(out["tokens"], dtype)  # the pack's fixed 128-byte header
        for start, end in zip(starts, ends, strict=True):
            writer.write(data[start:end])
        writer.close()
        del data
    return out
