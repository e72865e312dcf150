"""Reading a benchmark's rows from wherever they are: the shipped sample, a local or `s3://`
JSONL/Parquet file, or a Hugging Face dataset.

`read_rows(uri, sample)` accepts

* `None`: the shipped sample file `sample` (a JSONL file in this package);
* a `.jsonl`, `.jsonl.gz` or `.parquet` file, local or `s3://` (rows as the public dataset
  writes them);
* `hf://DATASET[:CONFIG][:SPLIT]` (split defaults to `test`, the split benchmarks are scored
  on): a hub dataset (`hf://cais/mmlu:all:test`) read through `datasets`, a local folder of data
  files in the hub's layout (`hf:///data/mmlu` holding `test-00000-of-00001.parquet` or
  `data/test-*.parquet`) read by the same `datasets.load_dataset` call, or a folder written by
  `Dataset.save_to_disk` / `DatasetDict.save_to_disk`.

Every problem — a missing file, a corrupt line, a dataset that does not open — is a one-line
`TritterError` naming the source. The row checks (fields present, types) belong to each
benchmark's loader.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any

from tritter import storage
from tritter.errors import TritterError
from tritter.hf_datasets import open_split

HF_PREFIX = "hf://"
DEFAULT_SPLIT = "test"
# Files `save_to_disk` writes next to the Arrow data: a folder holding one was saved that way.


def sample_path(name: str) -> Path:
    """A sample file shipped in this package."""
    return Path(str(resources.files(__package__) / name))


def describe(uri: str | None, sample: str) -> str:
    """How results.json names a benchmark's source: the URI, or `sample:<file>`."""
    return uri if uri else f"sample:{sample}"


def read_rows(uri: str | None, sample: str) -> list[dict[str, Any]]:
    """Every row of the benchmark at `uri` (the shipped `sample` when None), in order."""
    if uri is None:
        return read_jsonl(sample_path(sample))
    text = uri.strip()
    if text.startswith(HF_PREFIX):
        return _hf_rows(text)
    if not storage.exists(text):
        raise TritterError(f"{text}: benchmark file not found")
    with storage.local_copy(text) as path:
        if path.name.lower().endswith(".parquet"):
            return _parquet_rows(path, text)
        if path.name.lower().endswith((".jsonl", ".jsonl.gz", ".ndjson")):
            return read_jsonl(path, text)
    raise TritterError(f"{text}: expected a .jsonl, .jsonl.gz or .parquet file or hf://DATASET")


def require(row: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """`row[key]`, which must be of `kind`; a one-line error naming `where` (source and row)
    otherwise."""
    if key not in row:
        raise TritterError(f"{where} lacks field '{key}'")
    value = row[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise TritterError(f"{where}: field '{key}' is a {type(value).__name__}, not {expected}")
    return value


def read_jsonl(path: Path, label: str | None = None) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL (or JSONL.gz) file, one per non-blank line."""
    label = label or str(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise TritterError(
                        f"{label}:{number}: corrupt benchmark line ({err.msg})"
                    ) from err
                if not isinstance(row, dict):
                    raise TritterError(f"{label}:{number}: benchmark line is not a JSON object")
                rows.append(row)
    except FileNotFoundError as err:
        raise TritterError(f"{label}: benchmark file not found") from err
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise TritterError(f"{label}: unreadable benchmark file ({err})") from err
    return rows


def _parquet_rows(path: Path, label: str) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise TritterError(f"{label}: not a readable Parquet file ({err})") from err


def parse_hf(uri: str) -> tuple[str, str | None, str]:
    """`hf://name[:config][:split]` → (name, config or None, split; default `test`)."""
    parts = uri[len(HF_PREFIX) :].split(":")
    if not parts[0] or len(parts) > 3:
        raise TritterError(f"{uri}: expected hf://DATASET[:CONFIG][:SPLIT]")
    config = (parts[1] or None) if len(parts) > 1 else None
    split = (parts[2] or DEFAULT_SPLIT) if len(parts) > 2 else DEFAULT_SPLIT
    return parts[0], config, split


def _hf_rows(uri: str) -> list[dict[str, Any]]:
    name, config, split = parse_hf(uri)
    dataset = open_split(uri, name, config, split)
    try:
        return [dict(row) for row in dataset]
    except Exception as err:  # datasets/fsspec raise many types while reading
        raise TritterError(f"{uri}: reading failed ({type(err).__name__}: {err})") from err
