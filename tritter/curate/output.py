"""Writing documents: the per-shard work table and the final Parquet / JSONL shards.

Final Parquet shards follow `tritter.schema.CURATED_SCHEMA` exactly. `--format jsonl` writes one
JSON object per document instead: `text, language, quality_score, source, license, stars`, plus
`quality_label` and `explanation` for negatives only (a positive carries no label key), where
`source` is the document's path, prefixed by its repository when known, and `stars` is left out
when unknown.

Everything is written to a local temporary file first and published whole with
`storage.upload_file` (rename locally, single PUT / completed multipart upload on S3).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tritter.schema import CURATED_SCHEMA

# The work table carries the curated columns plus what apply/finalize need to count negatives.
WORK_SCHEMA = CURATED_SCHEMA.append(pa.field("flaws", pa.string()))
COMPRESSION = "zstd"


class ParquetSink:
    """Append row batches to one Parquet file (row groups of whatever size the batches are)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, columns: dict[str, list[Any]]) -> None:
        """Append rows. A string column may be given as UTF-8 `bytes`: converting bytes is ~8x
        faster than converting Python `str` objects (the cast still validates the UTF-8)."""
        arrays = []
        for field in self.schema:
            values = columns[field.name]
            if values and isinstance(values[0], bytes) and pa.types.is_large_string(field.type):
                arrays.append(pa.array(values, type=pa.large_binary()).cast(field.type))
            else:
                arrays.append(pa.array(values, type=field.type))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        if table.num_rows == 0:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression=COMPRESSION)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is None:  # an empty shard is still a valid file with the schema
            pq.write_table(self.schema.empty_table(), self.path, compression=COMPRESSION)
        else:
            self._writer.close()


def jsonl_record(row: dict[str, Any]) -> dict[str, Any]:
    """A curated row in the `--format jsonl` layout."""
    source = f"{row['repo']}/{row['path']}" if row.get("repo") else row["path"]
    record: dict[str, Any] = {
        "text": row["text"],
        "language": row["language"],
        "quality_score": row["quality_score"],
    }
    if row["quality_label"] == "negative":
        record["quality_label"] = "negative"
        record["explanation"] = row["explanation"]
    record["source"] = source
    record["license"] = row["license"]
    if row.get("stars") is not None:
        record["stars"] = row["stars"]
    return record


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def curated_table(table: pa.Table) -> pa.Table:
    """The work table minus its work-only columns, in CURATED_SCHEMA order."""
    return table.select(CURATED_SCHEMA.names).cast(CURATED_SCHEMA)
