"""Repository-level quality signals: `--min-stars`, freshness, tests-present per repository and
the student-homework rule, through the real plan and process steps and a full `tritter curate`."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_tritter
from tritter.curate import filters, homework, quality, repos
from tritter.curate.config import CurateConfig
from tritter.curate.plan import plan
from tritter.curate.process import process_shard
from tritter.curate.repos import record_key

SAMPLES = Path(__file__).parent / "samples"
GOOD = (SAMPLES / "mit_project/geometry/vectors.py").read_text()  # a real, documented module
PLAIN = textwrap.dedent(
    '''\
    """Small helpers for totals."""


    def running_total(values):
        """Cumulative sums of `values`."""
        total = 0
        result = []
        for value in values:
            total += value
            result.append(total)
        return result
    '''
)


def _base_score(text: str, language: str = "python") -> quality.Quality:
    return quality.score(text, filters.text_stats(text.encode()), language)


# --------------------------------------------------------------------------------------------
# Signals, unit by unit


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_io.py", True),
        ("pkg/test_io.py", True),
        ("io_test.go", True),
        ("src/test/java/org/x/ParserTest.java", True),
        ("ParserTests.cs", True),
        ("web/app.spec.ts", True),
        ("lib/widget.test.js", True),
        ("spec/models/user_spec.rb", True),
        ("conftest.py", True),
        ("latest.py", False),
        ("contest.py", False),
        ("src/attestation.rs", False),
        ("Testimony.java", False),
        ("docs/testing.md", False),
    ],
)
def test_test_paths(path, expected):
    assert repos.is_test_path(path) is expected


def test_stale_penalty_thresholds():
    as_of = dt.date(2024, 1, 1)
    assert repos.stale_penalty(None, as_of) == (0.0, 0.0)
    assert repos.stale_penalty(dt.date(2020, 1, 1), None) == (0.0, 0.0)
    assert repos.stale_penalty(dt.date(2021, 1, 1), as_of)[0] == 0.0  # 3 years: fresh
    assert repos.stale_penalty(dt.date(2018, 1, 2), as_of)[0] == pytest.approx(0.06, abs=1e-3)
    assert repos.stale_penalty(dt.date(2010, 1, 1), as_of)[0] == repos.MAX_STALE_PENALTY
    assert repos.parse_date("2019-05-06T07:08:09.000Z") == dt.date(2019, 5, 6)
    assert repos.parse_date("last tuesday") is None


def test_adjust_credits_repository_tests_and_penalizes_staleness():
    base = _base_score(PLAIN)
    assert base.signals["tests"] == 0.0
    credited = quality.adjust(base, True, (0.0, 0.0))
    weight = quality.CODE_WEIGHTS["tests"] * repos.REPO_TESTS_CREDIT
    assert credited.score == pytest.approx(base.score + weight, abs=1e-4)
    assert "tests" not in credited.weaknesses()
    stale = quality.adjust(base, False, (0.15, 11.0))
    assert stale.score == pytest.approx(base.score - 0.15, abs=1e-4)
    assert "untouched for 11 years" in quality.explain(stale)
    docs = _base_score("# Title\n\n## Use\n\n`pip install x`\n", "markdown")
    assert quality.adjust(docs, True, (0.0, 0.0)) == docs  # docs have no tests signal


# A labelled handful: (is homework, path, repository, its code files, text).
_HEADER = "# Homework 3 - CS 101\n# Student ID: 20231234\n# Due date: March 3\n"
HOMEWORK_SAMPLE = [
    (True, "hw3/solution.py", "alice/cs101", 4, _HEADER + PLAIN),
    (True, "main.py", "bob/homework", 1, "# Assignment 2\n" + PLAIN),
    (True, "lab5.py", "carol/code", 1, PLAIN),
    (True, "src/main.c", "dan/ece220", 6, "/* Student name: Dan\n * ECE 220 */\n" + PLAIN),
    (True, "problem_set_2/q1.py", "erin/pset", 3, "# Problem Set 2, question 1\n" + PLAIN),
    (True, "labs/lab_04/Main.java", "frank/oop", 9, "// Lab 4\n// COMP 1511, fall 2019\n" + PLAIN),
    (True, "week1/ex.py", "gina/course", 1, "# Instructor: Dr. Smith\n" + PLAIN),
    (True, "hw2.py", "hank/misc", 12, "# HW2 for CSE 331\n" + PLAIN),
    (True, "assignment1/sort.py", "ivy/algorithms", 5, "# Homework\n" + PLAIN),
    (True, "solution.py", "jack/cs50-homework", 2, PLAIN),
    # no header, a non-numbered path and a big repository: nothing to go on (a miss)
    (True, "p1.py", "kim/stuff", 30, "# my solution to problem one\n" + PLAIN),
    (False, "lab.py", "numpy/numpy", 2000, GOOD),
    (False, "labs/experiment.py", "acme/research", 50, GOOD),
    (False, "drivers/net/hw2_phy.c", "torvalds/linux", 60000, "/* hw2 PHY support */\n" + PLAIN),
    (False, "tutorial/exercises.py", "org/tutorial", 40, "# Exercise: sum a list\n" + PLAIN),
    (False, "main.py", "solo/tool", 1, PLAIN),  # tiny alone is not enough
    (False, "src/assign.rs", "org/compiler", 80, "// register assignment, backend\n" + PLAIN),
    (False, "src/course.py", "org/lms", 25, "class Course:\n    title: str\n" + PLAIN),
    (False, "gen/schedule.py", "org/cal", 10, "# Spring cleaning of the schedule\n" + PLAIN),
    (False, "history.py", "org/pkg", 15, "# Changed in the 2019 release\n" + PLAIN),
    (False, "cs/parser.py", "org/cs-tools", 30, "# CS parser (case-sensitive)\n" + PLAIN),
    (False, "lib/labels.py", "org/ui", 12, "# label 3 of the axis\n" + PLAIN),
]


def test_homework_precision_and_recall_on_labelled_sample():
    predicted = [
        homework.verdict(text.lower(), path, repo, repos.RepoInfo(files, False)) is not None
        for _, path, repo, files, text in HOMEWORK_SAMPLE
    ]
    labels = [label for label, *_ in HOMEWORK_SAMPLE]
    tp = sum(p and t for p, t in zip(predicted, labels, strict=True))
    precision = tp / max(sum(predicted), 1)
    recall = tp / sum(labels)
    assert (sum(labels), len(labels) - sum(labels)) == (11, 11)
    pairs = list(zip(HOMEWORK_SAMPLE, predicted, strict=True))
    assert precision == 1.0, [sample[1] for sample, hit in pairs if hit and not sample[0]]
    assert recall >= 0.9, [sample[1] for sample, hit in pairs if sample[0] and not hit]


def test_one_weak_signal_never_drops():
    assert homework.signals("x = 1\n", "lab.py", "numpy/numpy", repos.RepoInfo(2000, True)) == {}
    assert homework.verdict("# lab 5\nx = 1\n", "a.py", "o/big", repos.RepoInfo(50, True)) is None
    found = homework.verdict("# student id: 7\n", "a.py", None, None)
    assert found == "student_field"  # a strong signal alone


# --------------------------------------------------------------------------------------------
# Through the real steps


def _stack_records() -> list[dict]:
    """The Stack-style records: v2 fields (repo_name, star_events_count, committer_date,
    visit_date) and v1 fields (max_stars_repo_name, max_stars_repo_path, max_stars_count)."""
    v2 = {"visit_date": "2023-09-01T00:00:00Z", "license_type": "permissive"}
    return [
        # a repository whose test file lands in another work unit than its code
        {"repo_name": "org/tested", "path": "tests/test_totals.py", "star_events_count": 50,
         "committer_date": "2023-05-01T10:00:00Z", **v2,
         "content": "from totals import running_total\n\n\ndef test_total():\n"
                    "    assert running_total([1, 2]) == [1, 3]\n"},
        {"repo_name": "org/untested", "path": "pkg/other.py", "star_events_count": 50,
         "committer_date": "2023-05-01T10:00:00Z", **v2, "content": GOOD},
        {"repo_name": "org/tested", "path": "pkg/totals.py", "star_events_count": 50,
         "committer_date": "2023-05-01T10:00:00Z", **v2, "content": PLAIN},
        {"repo_name": "org/untested", "path": "pkg/totals.py", "star_events_count": 50,
         "committer_date": "2023-05-01T10:00:00Z", **v2, "content": PLAIN + "\n\nLIMIT = 3\n"},
        {"repo_name": "old/stale", "path": "lib/totals.py", "star_events_count": 50,
         "committer_date": "2012-02-01T00:00:00Z", **v2, "content": PLAIN + "\n\nLIMIT = 4\n"},
        {"max_stars_repo_name": "few/stars", "max_stars_repo_path": "x.py", "max_stars_count": 1,
         "content": PLAIN + "\n\nLIMIT = 5\n"},
        {"max_stars_repo_name": "no/stars", "max_stars_repo_path": "y.py",
         "max_stars_count": None, "content": PLAIN + "\n\nLIMIT = 6\n"},
        {"repo_name": "stu/cs101", "path": "hw3/solution.py", "star_events_count": 3,
         "committer_date": "2023-05-01T10:00:00Z", **v2, "content": _HEADER + PLAIN},
        {"repo_name": "stu/lab5", "path": "lab5.py", "star_events_count": 3,
         "committer_date": "2023-05-01T10:00:00Z", **v2, "content": PLAIN + "\n\nLIMIT = 7\n"},
    ]  # fmt: skip


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_full_curate_run_with_stack_metadata(tmp_path):
    source = _write_jsonl(tmp_path / "stack.jsonl", _stack_records())
    out = tmp_path / "out"
    result = run_tritter(
        "curate", "--input", str(source), "--output", str(out), "--min-stars", "2",
        "--assume-license", "mit", "--shard-mb", "0.0005", "--workers", "2", "--keep-work",
        "--no-dedup",  # the variants of one module below are near-duplicates on purpose
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    units = sorted((out / "_work" / "units").glob("*.json"))
    assert len(units) >= 3  # the tests file and the code it tests are in different units
    manifest = json.loads((out / "_manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["dropped"]["min_stars"] == 1
    assert counts["dropped"]["homework"] == 2
    assert counts["repo_signals"] == {"stars_known": 5, "dated": 5, "stale": 1, "repo_tests": 1}
    assert manifest["config"]["min_stars"] == 2

    rejects = {}
    for part in (out / "rejects").glob("*.jsonl"):
        for line in part.read_text().splitlines():
            record = json.loads(line)
            rejects[record["path"]] = (record["reason"], record.get("detail", ""))
    assert rejects["x.py"] == ("min_stars", "1 < 2")
    assert rejects["hw3/solution.py"][0] == "homework"
    assert rejects["lab5.py"] == ("homework", "homework_path,tiny_repo")

    rows = {}
    for part in out.glob("part-*.parquet"):
        for row in pq.read_table(part).to_pylist():
            rows[(row["repo"], row["path"])] = row
    assert ("no/stars", "y.py") in rows  # unknown stars are never dropped by --min-stars
    base = _base_score(PLAIN)
    tested = rows[("org/tested", "pkg/totals.py")]["quality_score"]
    assert tested == quality.adjust(base, True, (0.0, 0.0)).score > base.score
    untested = _base_score(PLAIN + "\n\nLIMIT = 3\n").score
    assert rows[("org/untested", "pkg/totals.py")]["quality_score"] == untested
    stale_base = _base_score(PLAIN + "\n\nLIMIT = 4\n")
    expected = quality.adjust(stale_base, False, (repos.MAX_STALE_PENALTY, 11.6)).score
    assert rows[("old/stale", "lib/totals.py")]["quality_score"] == expected


def test_parquet_repository_table_slices_per_unit(tmp_path):
    """The plan's pass over a Parquet set (repository, path and date columns): each unit gets
    the rows of its own repositories, with whole-input counts; the newest date is the snapshot."""
    records = [r for r in _stack_records() if "repo_name" in r]
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "visit_date"}
                                  for r in records])  # fmt: skip
    source = tmp_path / "stack.parquet"
    pq.write_table(table, source, row_group_size=2)
    out = tmp_path / "out"
    config = CurateConfig(input=str(source), output=str(out), assume_license="mit",
                          shard_mb=0.0001, workers=1, dedup=False, keep_work=True)  # fmt: skip
    planned = plan(config)
    assert planned.shards == 4  # one row group per unit
    slices = [json.loads(p.read_text())["repos"] for p in sorted(out.glob("_work/units/*.json"))]
    assert {s["as_of"] for s in slices} == {"2023-05-01"}
    # Repository names appear in work files only as digests (a name can hold a credential).
    assert slices[0]["rows"] == {record_key("org/tested"): [2, 1],
                                 record_key("org/untested"): [2, 0]}  # fmt: skip
    assert slices[3]["rows"] == {record_key("stu/lab5"): [1, 0]}
    stats = [process_shard(str(out), index) for index in range(planned.shards)]
    assert sum(s.dropped.get("homework", 0) for s in stats) == 2
    signals = [s.repo_signals for s in stats]
    # no visit_date here: the input's newest date (2023-05-01) is the snapshot, 11.2 years on
    assert sum(s.get("stale", 0) for s in signals) == 1
    assert sum(s.get("repo_tests", 0) for s in signals) == 1


def test_source_tree_repositories_by_marker(tmp_path):
    """A folder of checkouts: each checkout is a repository; tests credit only their own."""
    root = tmp_path / "src"
    for rel, text in {
        "tested/README.md": "# Tested\n\nA project.\n\n`x`\n",
        "tested/pkg/totals.py": PLAIN,
        "tested/tests/test_totals.py": "def test_x():\n    assert 1\n\n\n# end\n",
        "bare/LICENSE": "MIT License\n",
        "bare/pkg/totals.py": PLAIN + "\n\nLIMIT = 2\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    out = tmp_path / "out"
    config = CurateConfig(input=str(root), output=str(out), assume_license="mit", workers=1,
                          shard_files=2, dedup=False, keep_work=True)  # fmt: skip
    planned = plan(config)
    rows = {}
    for unit in sorted(out.glob("_work/units/*.json")):
        rows |= json.loads(unit.read_text())["repos"]["rows"]
    assert rows == {"bare": [1, 0], "tested": [2, 1]}
    stats = [process_shard(str(out), index) for index in range(planned.shards)]
    # credited: tested/pkg/totals.py (its test file has tests of its own, README.md is docs)
    assert sum(s.repo_signals.get("repo_tests", 0) for s in stats) == 1
