"""Repository-level signals: which repository a document belongs to, whether that repository
holds tests, how many source files it has, and how long it had gone untouched.

Tests-present and repository size are facts about a whole repository while shards are processed
independently, and one repository's files can land in several work units (a source tree is cut
into units by size, a document set by byte range or row group). So the plan step builds a
**repository table** once, from what it reads anyway or can read cheaply, and writes into each
unit's file (`_work/units/NNNNN.json`, key `repos`) the rows of only the repositories that
unit's documents belong to:

* a source tree: from the listing the plan already holds (paths only, no extra read);
* a JSONL/Parquet document set: a pass over the repository, path and date fields of every
  record. Parquet reads only those columns (a few per cent of the bytes, the text column is
  never fetched); JSONL has no column access and is parsed whole. The pass runs over the work
  units on `_PASS_THREADS` threads (object-store reads and Parquet decoding release the GIL);
* a streamed `hf://` dataset: no table (a plan-time pass would stream every text); its
  documents get no tests-present or tiny-repository signal, only freshness.

Why not a distributed step: the table holds two numbers per repository and the plan node
already enumerates every input; the per-unit slices keep what each shard loads proportional to
its own documents, not to the corpus. The cost is one node reading the metadata columns at
plan time (a full read for JSONL), paid only when a new plan is written, never on resume.

In a source tree the repository of a file is the shallowest folder on its path (the root
included) that holds a repository marker (`README*`, `LICENSE`/`COPYING`, `.gitignore`,
`pyproject.toml`, `setup.py`, `Cargo.toml`, `package.json`, `go.mod`, `pom.xml`, ...): a folder
of checkouts gives one repository per checkout, a single project one repository. Files under
no marker belong to the root's. In a document set it is the record's repository field.

Signals, and how they feed the quality score (`quality.adjust`):

=================  ==========================================================================
tests present      a file of the repository is a test (`is_test_path`: `tests/`, `spec/`,
                   `test_*.py`, `*_test.go`, `*Test.java`, `*.spec.ts`, `conftest.py`, ...):
                   a code document without tests of its own gets its `tests` signal raised
                   from 0 to `REPO_TESTS_CREDIT` (0.6), i.e. +0.09 on its score.
freshness          the repository's last commit/revision date (`LAST_CHANGE_FIELDS`) against
                   its snapshot date (`visit_date`, else the newest last-change date of the
                   whole input): untouched over `STALE_AFTER_YEARS` (4) years costs
                   `PENALTY_PER_YEAR` (0.03) a year beyond, at most `MAX_STALE_PENALTY` (0.15,
                   reached at 9 years). No date: no effect. The Stack v1 has no commit date
                   (its `*_event_*_datetime` fields date stars, issues and forks), so it gets none.
files              code files of the repository (docs, config and vendored files not counted):
                   one, and the homework rule (`homework.py`) counts a tiny single-file
                   repository as one of its signals.
=================  ==========================================================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tritter import log, progress
from tritter.curate import languages, licenses, sources
from tritter.curate.config import CurateConfig
from tritter.errors import TritterError

_log = log.get_logger("curate")

# The Stack v2: `committer_date` (last commit of the snapshot's revision), then `revision_date`.
LAST_CHANGE_FIELDS = (
    "committer_date",
    "revision_date",
    "last_commit_date",
    "last_commit",
    "pushed_at",
    "last_modified",
)
SNAPSHOT_FIELDS = ("visit_date",)  # The Stack v2: when Software Heritage crawled the repository
STALE_AFTER_YEARS = 4.0
PENALTY_PER_YEAR = 0.03
MAX_STALE_PENALTY = 0.15
REPO_TESTS_CREDIT = 0.6
_PASS_THREADS = 16
_DAYS_PER_YEAR = 365.25

_TEST_DIRS = frozenset(
    [
        "test",
        "tests",
        "__tests__",
        "spec",
        "specs",
        "testing",
        "unittests",
        "unit_tests",
        "integration_tests",
        "test_suite",
        "testsuite",
    ]
)
# test_x.py, x_test.go, x_spec.rb, FooTest.java, FooTests.cs, x.test.ts, x.spec.js, conftest.py
_TEST_FILE = re.compile(
    r"^(?:test_.+|.+_test|.+_spec|.+[a-z0-9]Tests?|.+\.(?:test|spec)|conftest)\.[A-Za-z0-9]+$"
)
_MARKER_NAMES = frozenset(
    [
        ".gitignore",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "cargo.toml",
        "package.json",
        "go.mod",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "cmakelists.txt",
        "gemfile",
        "composer.json",
    ]
)


def is_test_path(path: str) -> bool:
    """A test file by its path: under a test folder, or named like one."""
    *folders, name = path.split("/")
    return any(part.lower() in _TEST_DIRS for part in folders) or bool(_TEST_FILE.match(name))


def _is_marker(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1].lower()
    return name in _MARKER_NAMES or name.startswith("readme") or licenses.is_license_file(rel)


def _is_code(path: str) -> bool:
    language = languages.language_of(path)
    return (
        language is not None
        and language not in languages.DOC_LANGUAGES
        and not languages.is_vendored(path)
    )


def parse_date(value: Any) -> dt.date | None:
    """A date from a datetime/date or an ISO 8601 string (`2021-03-04T05:06:07Z`); None for
    anything else (an unparseable date has no effect, like an absent one)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def record_date(record: dict[str, Any] | None, fields: tuple[str, ...]) -> dt.date | None:
    """The first of `fields` in the record holding a date."""
    if record is None:
        return None
    for name in fields:
        found = parse_date(record.get(name))
        if found is not None:
            return found
    return None


def stale_penalty(last_change: dt.date | None, as_of: dt.date | None) -> tuple[float, float]:
    """(penalty, years untouched): 0 up to `STALE_AFTER_YEARS`, then `PENALTY_PER_YEAR` a year,
    at most `MAX_STALE_PENALTY`. No date: (0, 0)."""
    if last_change is None or as_of is None:
        return 0.0, 0.0
    years = max((as_of - last_change).days / _DAYS_PER_YEAR, 0.0)
    penalty = min(max(years - STALE_AFTER_YEARS, 0.0) * PENALTY_PER_YEAR, MAX_STALE_PENALTY)
    return round(penalty, 4), years


@dataclass(frozen=True)
class RepoInfo:
    files: int  # code files of the repository in the whole input
    tests: bool  # at least one of its files is a test


@dataclass(frozen=True)
class RepoTable:
    """The repository rows one work unit needs (see the module docstring)."""

    kind: str = ""  # "tree" (keys are root folders, "" the input root) | "records" | "" (none)
    repos: dict[str, RepoInfo] | None = None
    as_of: dt.date | None = None  # the input's newest last-change date

    @classmethod
    def from_unit(cls, unit: dict[str, Any]) -> RepoTable:
        data = unit.get("repos")
        if not data:
            return cls()
        rows = {name: RepoInfo(int(files), bool(tests)) for name, (files, tests) in
                data["rows"].items()}  # fmt: skip
        return cls(data["kind"], rows, parse_date(data.get("as_of")))

    def lookup(self, raw: sources.RawDoc) -> RepoInfo | None:
        """The document's repository row, or None when unknown."""
        if not self.repos:
            return None
        if self.kind == "tree":
            return self.repos.get(_tree_root(raw.path, self.repos))
        return self.repos.get(record_key(raw.repo)) if raw.repo else None


def record_key(repo: str) -> str:
    """How a unit file names a repository of record inputs: a digest, never the name itself
    (a name can hold a credential, `https://x-access-token:ghp_…@github.com/…`, and work files
    must not)."""
    return hashlib.sha256(repo.encode()).hexdigest()[:24]


def _tree_root(path: str, roots: dict[str, Any] | set[str]) -> str:
    """The shallowest folder on `path` that is a repository root ("" when none is)."""
    if "" in roots:  # the input itself is one repository
        return ""
    parts = path.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        if folder in roots:
            return folder
    return ""


# -- the plan-time pass ---------------------------------------------------------------------------


@dataclass
class _Partial:
    """One unit's view: repository → [code files, has tests], and its newest last change."""

    rows: dict[str, list[int]]
    newest: dt.date | None = None


def attach(source: sources.Source, units: list[dict[str, Any]], config: CurateConfig) -> None:
    """Add each unit's slice of the repository table to the unit (key `repos`)."""
    if source.kind == "hf" or not units:
        return
    started = time.monotonic()
    if source.kind == "files":
        kind, partials = "tree", _tree_partials(units)
    else:
        kind = "records"
        with ThreadPoolExecutor(min(_PASS_THREADS, len(units))) as pool:
            work = pool.map(lambda unit: _record_partial(source, unit, config), units)
            partials = list(progress.track(work, total=len(units), desc="repository table",
                                           unit="unit"))  # fmt: skip
    merged: dict[str, list[int]] = {}
    newest: dt.date | None = None
    for partial in partials:
        for name, (files, tests) in partial.rows.items():
            row = merged.setdefault(name, [0, 0])
            row[0] += files
            row[1] |= tests
        if partial.newest is not None and (newest is None or partial.newest > newest):
            newest = partial.newest
    for unit, partial in zip(units, partials, strict=True):
        unit["repos"] = {
            "kind": kind,
            "as_of": newest.isoformat() if newest else None,
            "rows": {
                (record_key(name) if kind == "records" else name): merged[name]
                for name in sorted(partial.rows)
            },
        }
    log.event(_log, "repository table", repositories=len(merged), as_of=str(newest),
              with_tests=sum(1 for row in merged.values() if row[1]),
              seconds=round(time.monotonic() - started, 2))  # fmt: skip


def _tree_partials(units: list[dict[str, Any]]) -> list[_Partial]:
    roots = {
        rel.rsplit("/", 1)[0] if "/" in rel else ""
        for unit in units
        for rel, _, status in unit["items"]
        if status == "ok" and _is_marker(rel)
    }
    partials = []
    for unit in units:
        rows: dict[str, list[int]] = {}
        for rel, _, status in unit["items"]:
            if status != "ok":
                continue
            row = rows.setdefault(_tree_root(rel, roots), [0, 0])
            row[0] += _is_code(rel)
            row[1] |= is_test_path(rel)
        partials.append(_Partial(rows))
    return partials


def _record_partial(source: sources.Source, unit: dict[str, Any], config: CurateConfig) -> _Partial:
    partial = _Partial({})
    for record in _metadata_records(source, unit, config):
        repo = sources.first_str(record, sources.REPO_FIELDS)
        if repo is None:
            continue
        path = sources.first_str(record, sources.PATH_FIELDS) or ""
        row = partial.rows.setdefault(repo, [0, 0])
        row[0] += not path or _is_code(path)  # a record without a path is still a file
        row[1] |= bool(path) and is_test_path(path)
        changed = record_date(record, LAST_CHANGE_FIELDS)
        if changed is not None and (partial.newest is None or changed > partial.newest):
            partial.newest = changed
    return partial


def _metadata_records(
    source: sources.Source, unit: dict[str, Any], config: CurateConfig
) -> Iterator[dict[str, Any]]:
    """The unit's records with at least their repository, path and date fields: Parquet reads
    only those columns; a JSONL line is parsed whole (the same lines `read_unit` reads)."""
    if unit["kind"] == "parquet":
        import pyarrow as pa

        handle = sources.open_parquet(unit["uri"])
        wanted = set(sources.REPO_FIELDS + sources.PATH_FIELDS + LAST_CHANGE_FIELDS)
        columns = [name for name in handle.schema_arrow.names if name in wanted]
        if not any(name in sources.REPO_FIELDS for name in columns):
            return
        for group in unit["row_groups"]:
            try:
                table = handle.read_row_group(group, columns=columns)
            except (pa.ArrowException, OSError) as err:
                raise TritterError(
                    f"{unit['uri']}: row group {group} is unreadable ({err})"
                ) from err
            yield from table.to_pylist()
        return
    for raw in sources.read_unit(source, unit, config):
        if raw.record is not None:
            yield raw.record
