"""Reading a tokens folder back in the tests: shards, documents, decoded texts."""

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


def manifest(folder: Path) -> dict:
    return json.loads((folder / "_manifest.json").read_text())


def shard_arrays(folder: Path, split: str | None = None):
    """(row of extra.shards, tokens array, docs array) for every shard, in manifest order."""
    for row in manifest(folder)["extra"]["shards"]:
        if split is None or row["split"] == split:
            tokens = np.load(folder / row["tokens"], mmap_mode="r")
            docs = np.load(folder / row["docs"])
            yield row, tokens, docs


def documents(folder: Path, tokenizer: Tokenizer, split: str) -> dict[str, Counter]:
    """subset → Counter of decoded document texts (EOS stripped) in `split`."""
    out: dict[str, Counter] = {}
    for row, tokens, docs in shard_arrays(folder, split):
        texts = out.setdefault(row["subset"], Counter())
        for start, end in itertools.pairwise(docs.tolist()):
            texts[tokenizer.decode(tokens[start : end - 1])] += 1
    return out


def curated_texts(folder: Path, negatives: str = "explain") -> dict[str, set[str]]:
    """subset → rendered training texts of every curated document."""
    out: dict[str, set[str]] = {}
    for part in sorted(folder.glob("part-*.parquet")):
        for row in pq.read_table(part).to_pylist():
            text = render(
                row["text"],
                row["language"],
                row["quality_label"] == "negative",
                row["explanation"],
                negatives,
            )
            if text is not None:
                out.setdefault(row["subset"], set()).add(text)
    return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
