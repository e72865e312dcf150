"""Reading conversation datasets: JSONL or Parquet files, folders, `s3://` prefixes, `hf://`.

`read_conversations(uri)` accepts

* a `.jsonl`, `.jsonl.gz`, `.ndjson` or `.parquet` file (a local path or an `s3://` object);
* a folder or `s3://` prefix: every such file under it, in name order (names starting with `_`
  or `.`, such as `_manifest.json`, and files of other types are not data);
* `hf://DATASET[:CONFIG][:SPLIT]` (split defaults to train): a Hugging Face hub dataset streamed
  through `datasets`, a local folder of data files, or a folder written by
  `Dataset.save_to_disk` / `DatasetDict.save_to_disk`.

A row that is not a valid conversation — a line that is not JSON (`invalid_json`), or any shape
or turn problem (`tritter.chat.rows`, `tritter.chat.rules`) — is skipped and counted under its
reason, with the first such row of each reason kept as an example (`file.jsonl:7: detail`). A
file that cannot be read at all (missing, corrupt Parquet, a dataset that does not open) stops
the read with a one-line `TritterError` naming it.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tritter import storage
from tritter.chat.conversation import Conversation, InvalidConversation
from tritter.chat.rows import from_row
from tritter.curate.sources import open_parquet, parse_hf
from tritter.errors import TritterError
from tritter.hf_datasets import open_split

SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".parquet")
HF_PREFIX = "hf://"
# Files `save_to_disk` writes next to the Arrow data: a folder holding one was saved that way.


@dataclass
class ReadResult:
    """The valid conversations of a dataset and what was skipped."""

    source: str
    conversations: list[Conversation] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # data files read (empty for hf://)
    rows: int = 0  # rows looked at (valid and skipped)
    skipped: Counter[str] = field(default_factory=Counter)  # reason → rows
    examples: dict[str, str] = field(default_factory=dict)  # reason → first `origin: detail`

    @property
    def skipped_rows(self) -> int:
        return sum(self.skipped.values())


def read_conversations(uri: str, limit: int | None = None) -> ReadResult:
    """Every valid conversation of `uri` (the first `limit` when given: reading stops there, so
    `rows` and `skipped` then cover only the rows read)."""
    result = ReadResult(source=uri)
    if limit is not None and limit <= 0:
        return result
    for origin, row in iter_rows(uri, result.files):
        result.rows += 1
        try:
            if isinstance(row, InvalidConversation):
                raise row
            conversation = from_row(row, origin)
        except InvalidConversation as problem:
            result.skipped[problem.reason] += 1
            result.examples.setdefault(problem.reason, f"{origin}: {problem.detail}")
            continue
        result.conversations.append(conversation)
        if limit is not None and len(result.conversations) >= limit:
            break
    return result


def iter_rows(
    uri: str, files: list[str] | None = None
) -> Iterator[tuple[str, object | InvalidConversation]]:
    """(origin, row) for every row of `uri`, unvalidated; a line that is not JSON comes as an
    `InvalidConversation` instead of a row. The data files are appended to `files` as opened."""
    text = uri.strip()
    if text.startswith(HF_PREFIX):
        yield from _hf_rows(text)
        return
    root, found = _data_files(text)
    for item in found:
        if files is not None:
            files.append(item)
        name = _display(root, item)
        if item.lower().endswith(".parquet"):
            yield from _parquet_rows(item, name)
        else:
            yield from _jsonl_rows(item, name)


def _data_files(uri: str) -> tuple[str, list[str]]:
    """(root, data files) of a file, folder or prefix."""
    if storage.is_s3(uri):
        root = storage.normalize(uri)
        if root.lower().endswith(SUFFIXES):
            try:
                storage.size(root)
            except FileNotFoundError as err:
                raise TritterError(f"{uri}: not found") from err
            return root, [root]
        found = [o.uri for o in storage.list_objects(root) if _is_data(root, o.uri)]
    else:
        path = storage.local_path(uri).expanduser()
        if path.is_file():
            if not path.name.lower().endswith(SUFFIXES):
                raise TritterError(f"{uri}: expected a {', '.join(SUFFIXES)} file or a folder")
            return str(path.absolute()), [str(path.absolute())]
        if not path.is_dir():
            raise TritterError(f"{uri}: not found")
        root = str(path.absolute())
        found = [o.uri for o in storage.list_objects(root) if _is_data(root, o.uri)]
    if not found:
        raise TritterError(f"{uri}: no {', '.join(SUFFIXES)} files")
    return root, found


def _is_data(root: str, uri: str) -> bool:
    relative = _display(root, uri)
    hidden = any(part.startswith(("_", ".")) for part in relative.split("/"))
    return not hidden and uri.lower().endswith(SUFFIXES)


def _display(root: str, uri: str) -> str:
    """A data file's name as origins show it: relative to the folder, or its base name."""
    if uri == root:
        return storage.basename(uri)
    separator = "/" if storage.is_s3(root) else os.sep
    return uri[len(root.rstrip(separator)) + 1 :].replace(os.sep, "/")


def _jsonl_rows(uri: str, name: str) -> Iterator[tuple[str, object | InvalidConversation]]:
    for number, line in enumerate(_lines(uri), 1):
        if not line.strip():
            continue
        origin = f"{name}:{number}"
        try:
            yield origin, json.loads(line)
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError alike
            yield origin, InvalidConversation("invalid_json", f"not JSON ({err})")


def _lines(uri: str) -> Iterator[bytes]:
    compressed = uri.lower().endswith(".gz")
    try:
        if storage.is_s3(uri):
            data = storage.read_bytes(uri)
            yield from (gzip.decompress(data) if compressed else data).split(b"\n")
            return
        # Local files stream line by line: a `--limit` read stops early in a large file.
        opener = gzip.open if compressed else open
        with opener(storage.local_path(uri), "rb") as handle:
            yield from handle
    except (OSError, EOFError) as err:
        raise TritterError(f"{uri}: unreadable ({err})") from err


def _parquet_rows(uri: str, name: str) -> Iterator[tuple[str, object]]:
    import pyarrow as pa

    handle = open_parquet(uri)
    row = 0
    for group in range(handle.metadata.num_row_groups):
        try:
            table = handle.read_row_group(group)
        except (pa.ArrowException, OSError) as err:
            raise TritterError(f"{uri}: row group {group} is unreadable ({err})") from err
        for record in table.to_pylist():
            yield f"{name}#{row}", record
            row += 1


def _hf_rows(uri: str) -> Iterator[tuple[str, object]]:
    dataset = _open_hf(uri)
    try:
        for row, record in enumerate(dataset):
            yield f"{uri}#{row}", record
    except TritterError:
        raise
    except Exception as err:  # datasets/fsspec raise many types while reading
        raise TritterError(f"{uri}: reading failed ({type(err).__name__}: {err})") from err


def _open_hf(uri: str) -> Any:
    spec = parse_hf(uri)
    return open_split(uri, spec["name"] or "", spec["config"], spec["split"] or "train")
