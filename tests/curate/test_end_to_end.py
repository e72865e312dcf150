"""`tritter curate` on the planted corpus: every rule, the accounting, the outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import run_tritter
from tests.curate.conftest import curate_args
from tritter.curate.config import CurateConfig
from tritter.schema import CURATED_SCHEMA


def test_every_document_has_the_expected_outcome(curated):
    outcomes = curated.outcomes()
    expected = curated.corpus.expected
    for first, second, reason in curated.corpus.duplicate_pairs:
        pair = sorted([outcomes.pop(first), outcomes.pop(second)])
        assert pair == sorted(["kept", reason]), (first, second, pair)
        expected.pop(first, None), expected.pop(second, None)
    assert outcomes == expected


def test_manifest_accounts_for_every_input_document(curated):
    manifest = curated.manifest
    counts = manifest["counts"]
    files_on_disk = sum(len(files) for _, _, files in os.walk(curated.corpus.root))
    assert counts["input_documents"] == files_on_disk  # broken symlink included
    assert counts["input_documents"] == counts["kept_documents"] + sum(counts["dropped"].values())
    assert counts["kept_documents"] == len(curated.rows())
    assert sum(counts["dropped"].values()) == len(curated.rejects())
    assert counts["dropped"]["secret"] == 6
    assert counts["dropped"]["exact_duplicate"] == 1
    assert counts["dropped"]["near_duplicate"] == 1
    assert counts["dedup"]["exact_groups"] == 1 and counts["dedup"]["near_clusters"] == 1
    assert counts["negatives"] == {
        "eval_exec": 1, "low_quality": 1, "shell_injection": 1, "sql_injection": 1,
        "unsafe_deserialization": 1,
    }  # fmt: skip
    assert manifest["stage"] == "curate" and manifest["code_version"]
    assert manifest["config"]["max_bytes"] == 20_000
    listed = {entry["path"] for entry in manifest["files"]}
    on_disk = {p.name for p in curated.output.glob("part-*.parquet")}
    assert on_disk <= listed and all(p.startswith(("part-", "rejects/")) for p in listed)


def test_shards_follow_the_curated_schema_exactly(curated):
    parts = sorted(curated.output.glob("part-*.parquet"))
    assert len(parts) > 3  # --shard-mb 0.01 spreads the corpus over several work units
    for part in parts:
        assert pq.read_schema(part).remove_metadata() == CURATED_SCHEMA


def test_kept_rows_carry_license_labels_and_provenance(curated):
    rows = {row["path"]: row for row in curated.rows()}
    assert rows["rust_crate/src/lib.rs"]["license"] == "mit"  # Cargo.toml: MIT OR Apache-2.0
    assert rows["js_pkg/index.js"]["license"] == "isc"  # package.json
    assert rows["mit_project/geometry/spdx_apache.py"]["license"] == "apache-2.0"  # SPDX header
    assert rows["mit_project/geometry/vectors.py"]["license"] == "mit"  # nearest LICENSE
    assert rows["mit_project/docs/guide.md"]["subset"] == "docs"
    assert rows["rust_crate/src/lib.rs"]["subset"] == "rust"
    assert rows["mit_project/geometry/vectors.py"]["subset"] == "python"
    for row in rows.values():
        assert 0.0 <= row["quality_score"] <= 1.0
        assert row["bytes"] == len(row["text"].encode())
        if row["quality_label"] == "negative":
            assert row["explanation"].startswith("This code has")
            assert "Fix:" in row["explanation"]
        else:
            assert row["explanation"] is None
    views = rows["mit_project/webapp/views.py"]["explanation"]
    assert "SQL" in views and "eval()" in views and "parameterized" in views


def test_rejects_name_path_reason_and_detector_only(curated):
    secrets = [r for r in curated.rejects() if r["reason"] == "secret"]
    assert {r["path"]: r["detail"] for r in secrets} == {
        path: detector for path, (detector, _) in curated.corpus.secrets.items() if ":" not in path
    }
    assert all(set(r) == {"path", "reason", "detail"} for r in secrets)


def test_no_secret_value_appears_in_any_output_log_or_work_file(curated):
    values = [value for _, value in curated.corpus.secrets.values()]
    assert len(values) == 7
    haystacks = [curated.stdout, curated.stderr]
    assert curated.stderr.count('"level"') > 5  # JSON log lines were captured
    work_files = 0
    for folder, _, files in os.walk(curated.output):
        for name in files:
            path = os.path.join(folder, name)
            data = Path(path).read_bytes()
            haystacks.append(data.decode("latin-1"))
            work_files += "_work" in path
            if name.endswith(".parquet"):  # compressed: search the decoded columns too
                table = pq.read_table(path)
                haystacks.append(json.dumps(table.to_pylist(), default=str))
    assert work_files > 10  # --keep-work: shards, signatures, markers were searched
    for value in values:
        for haystack in haystacks:
            assert value not in haystack


def test_relaunch_on_a_complete_output_is_a_no_op(curated):
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in curated.output.rglob("*")}
    result = run_tritter(
        *curate_args(curated.corpus.root, curated.output, "--workers", "2", "--keep-work",
                     "--shard-mb", "0.01"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "already complete" in result.stdout
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in curated.output.rglob("*")}
    assert after == before


def test_help_documents_every_option():
    result = run_tritter("curate", "--help")
    assert result.returncode == 0
    flags = result.stdout.replace("\n", " ")
    for name in CurateConfig.model_fields:
        assert f"--{name.replace('_', '-')}" in flags, name
    assert "--step" in flags and "--config" in flags


def test_bad_config_is_a_one_line_error(tmp_path):
    result = run_tritter("curate", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                         "--dedup-threshold", "1.5")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "tritter: error: invalid config field 'dedup_threshold' (--dedup-threshold): "
        "Input should be less than or equal to 1 (got 1.5)"
    ]
    result = run_tritter("curate", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                         "--languages", "python,cobol")  # fmt: skip
    assert result.returncode == 1 and "unknown language 'cobol'" in result.stderr
    assert "Traceback" not in result.stderr
