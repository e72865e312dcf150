"""Fixtures for the curation tests: the planted corpus, curated once by the real CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_tritter
from tests.curate.corpus import MAX_BYTES, Corpus, build_corpus

# samples/ holds test *data* (a sample project's own tests among it), not tests to run.
collect_ignore = ["samples"]


@dataclass
class CuratedRun:
    corpus: Corpus
    output: Path
    stdout: str
    stderr: str

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.output / "_manifest.json").read_text())

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for part in sorted(self.output.glob("part-*.parquet")):
            rows += pq.read_table(part).to_pylist()
        return rows

    def rejects(self) -> list[dict[str, Any]]:
        records = []
        for part in sorted((self.output / "rejects").glob("*.jsonl")):
            records += [json.loads(line) for line in part.read_text().splitlines()]
        return records

    def outcomes(self) -> dict[str, str]:
        """path → "kept" / "kept:negative" / drop reason, from the outputs themselves."""
        found: dict[str, str] = {}
        for row in self.rows():
            assert row["path"] not in found, f"{row['path']} appears twice"
            found[row["path"]] = "kept" if row["quality_label"] == "positive" else "kept:negative"
        for record in self.rejects():
            assert record["path"] not in found, f"{record['path']} is both kept and dropped"
            found[record["path"]] = record["reason"]
        return found


def curate_args(source: Path | str, output: Path | str, *extra: str) -> list[str]:
    return ["curate", "--input", str(source), "--output", str(output),
            "--max-bytes", str(MAX_BYTES), *extra]  # fmt: skip


@pytest.fixture(scope="session")
def curated(tmp_path_factory) -> CuratedRun:
    """The corpus curated by `tritter curate` (2 workers, work files kept, JSON logs)."""
    base = tmp_path_factory.mktemp("curated")
    corpus = build_corpus(base / "src")
    output = base / "out"
    result = run_tritter(
        *curate_args(corpus.root, output, "--workers", "2", "--keep-work", "--shard-mb", "0.01"),
        env={"TRITTER_LOG_FORMAT": "json"},
    )
    assert result.returncode == 0, result.stderr
    return CuratedRun(corpus, output, result.stdout, result.stderr)
