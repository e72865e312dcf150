"""Reading a run back in the takedown tests: file digests, decoded documents by repository."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tritter.data.render import render
from tritter.tokenizer import Tokenizer


def digests(folder: Path) -> dict[str, str]:
    """relative path → sha256 of every file under `folder`."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def manifest(folder: Path) -> dict:
    return json.loads((folder / "_manifest.json").read_text())


def decoded_documents(tokens: Path, tokenizer: Tokenizer) -> Counter:
    """(repo as the sidecar says, decoded text) → copies, over every shard of the folder."""
    found: Counter = Counter()
    for row in manifest(tokens)["extra"]["shards"]:
        ids = np.load(tokens / row["tokens"], mmap_mode="r")
        bounds = np.load(tokens / row["docs"])
        repos = pq.read_table(tokens / row["documents"])["repo"].to_pylist()
        assert len(repos) == len(bounds) - 1
        for repo, (start, end) in zip(repos, itertools.pairwise(bounds.tolist()), strict=True):
            found[repo, tokenizer.decode(ids[start : end - 1])] += 1
    return found


def rendered(row: dict) -> str | None:
    """The text pack tokenized for a curated row (negatives carry their explanation)."""
    negative = row["quality_label"] == "negative"
    return render(row["text"], row["language"], negative, row["explanation"], "explain")


def curated_rows(curated: Path) -> list[dict]:
    return [row for part in sorted(curated.glob("part-*.parquet"))
            for row in pq.read_table(part).to_pylist()]  # fmt: skip
