"""Input kinds (JSONL, Parquet, hf://, directories), options, and bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_tritter
from tritter.curate import stage
from tritter.curate.apply import apply_shard
from tritter.curate.config import CurateConfig
from tritter.curate.finalize import finalize
from tritter.curate.index import dedup_index
from tritter.curate.plan import plan
from tritter.curate.process import process_shard
from tritter.curate.work import Skipped
from tritter.errors import TritterError

SAMPLES = Path(__file__).parent / "samples"


def sample(rel: str) -> str:
    return (SAMPLES / rel).read_text()


def records() -> list[dict]:
    """Document-set records in the seed's layout and in The Stack's."""
    return [
        {"text": sample("mit_project/geometry/vectors.py"), "language": "python",
         "path": "geometry/vectors.py", "license": "MIT", "stars": 120, "repo": "acme/geometry"},
        {"content": sample("rust_crate/src/lib.rs"), "lang": "Rust",
         "max_stars_repo_path": "src/lib.rs", "max_stars_repo_name": "acme/ringbuf",
         "max_stars_repo_licenses": ["Apache-2.0", "MIT"], "max_stars_count": 45},
        {"text": sample("mit_project/webapp/views.py"), "language": "python",
         "path": "webapp/views.py", "license": "BSD-3-Clause"},
        {"text": sample("gpl_tool/main.c"), "language": "c", "path": "main.c",
         "license": "GPL-3.0-only"},
        {"text": sample("js_pkg/index.js"), "path": "index.js"},  # no license: unknown
        {"text": "name: demo\n", "path": "conf/app.yaml", "license": "MIT"},
    ]  # fmt: skip


def write_jsonl(path: Path, rows: list, extra_lines: list[str] = ()) -> None:
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")


def curate(tmp_path: Path, source, **options) -> dict:
    config = CurateConfig(input=str(source), output=str(tmp_path / "out"), workers=1, **options)
    return stage.run(config).to_dict()["counts"]


def kept_rows(out: Path) -> list[dict]:
    rows = []
    for part in sorted(out.glob("part-*.parquet")):
        rows += pq.read_table(part).to_pylist()
    return rows


def test_jsonl_records_split_across_work_units_are_each_counted_once(tmp_path):
    path = tmp_path / "docs.jsonl"
    corrupt = ['{"text": "truncated', "[1, 2, 3]", '{"path": "no_text.py"}']
    write_jsonl(path, records() * 3, corrupt)
    counts = curate(tmp_path, path, shard_mb=0.002)  # ~2 kB units: lines straddle boundaries
    assert counts["shards"] > 5
    assert counts["input_documents"] == 18 + 3
    assert counts["dropped"]["corrupt_record"] == 3
    assert counts["dropped"]["license_copyleft"] == 3
    assert counts["dropped"]["license_unknown"] == 3
    assert counts["dropped"]["config"] == 3
    assert counts["dropped"]["exact_duplicate"] == 6  # the 3 copies of each kept record
    rows = {row["path"]: row for row in kept_rows(tmp_path / "out")}
    assert set(rows) == {"geometry/vectors.py", "src/lib.rs", "webapp/views.py"}
    assert rows["src/lib.rs"]["license"] == "apache-2.0" and rows["src/lib.rs"]["stars"] == 45
    assert rows["src/lib.rs"]["repo"] == "acme/ringbuf" and rows["src/lib.rs"]["language"] == "rust"
    assert rows["geometry/vectors.py"]["source"].endswith("docs.jsonl")
    assert rows["webapp/views.py"]["quality_label"] == "negative"
    rejects = [json.loads(x) for x in (tmp_path / "out/rejects").glob("*.jsonl")
               for x in x.read_text().splitlines()]  # fmt: skip
    corrupt_locators = sorted(r["path"] for r in rejects if r["reason"] == "corrupt_record")
    assert len(corrupt_locators) == 3 and all("docs.jsonl" in p for p in corrupt_locators)


def test_gzipped_jsonl_and_seed_jsonl_output(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    with gzip.open(folder / "part-0.jsonl.gz", "wt") as handle:
        for row in records():
            handle.write(json.dumps(row) + "\n")
    counts = curate(tmp_path, folder, format="jsonl", allow_unknown_license=True)
    assert counts["kept_documents"] == 4
    lines = [json.loads(x) for p in sorted((tmp_path / "out").glob("part-*.jsonl"))
             for x in p.read_text().splitlines()]  # fmt: skip
    by_source = {line["source"]: line for line in lines}
    vectors = by_source["acme/geometry/geometry/vectors.py"]
    assert set(vectors) == {"text", "language", "quality_score", "source", "license", "stars"}
    negative = by_source["webapp/views.py"]
    assert negative["quality_label"] == "negative" and "Fix:" in negative["explanation"]
    assert by_source["index.js"]["license"] == "unknown" and "stars" not in by_source["index.js"]


def test_parquet_row_groups_become_work_units(tmp_path):
    table = pa.Table.from_pylist(
        [{"text": r.get("text") or r.get("content"), "path": r.get("path") or "lib.rs",
          "license": "MIT"} for r in records()] * 2
    )  # fmt: skip
    pq.write_table(table, tmp_path / "docs.parquet", row_group_size=2)
    counts = curate(tmp_path, tmp_path / "docs.parquet", shard_mb=0.000001)
    assert counts["shards"] == 6
    assert counts["input_documents"] == 12
    assert counts["input_documents"] == counts["kept_documents"] + counts["dropped_documents"]
    assert counts["dropped"]["exact_duplicate"] == 5  # every record is there twice


def test_hugging_face_dataset_streamed_from_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "hub_dataset" / "data"
    data.mkdir(parents=True)
    rows = [{"content": r.get("text") or r.get("content"), "path": r.get("path") or "lib.rs",
             "license": "MIT"} for r in records()]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows[:3]), data / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[3:]), data / "train-00001-of-00002.parquet")
    counts = curate(tmp_path, f"hf://{tmp_path / 'hub_dataset'}::train")
    assert counts["shards"] == 2
    assert counts["input_documents"] == 6
    assert counts["kept_documents"] == 5  # every record is MIT here; the YAML one is config
    sources = {row["source"] for row in kept_rows(tmp_path / "out")}
    assert sources == {f"hf://{tmp_path / 'hub_dataset'}::train"}


def test_unreachable_hugging_face_dataset_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TritterError, match=r"^hf://no-such-org/no-such-dataset: cannot open"):
        curate(tmp_path, "hf://no-such-org/no-such-dataset")


def test_options_subset_languages_and_license_policy(tmp_path):
    tree = tmp_path / "repos"
    for rel in ("rust_crate/src/lib.rs", "rust_crate/Cargo.toml", "unlicensed/notes.py",
                "mit_project/LICENSE", "mit_project/geometry/shapes.py"):  # fmt: skip
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(sample(rel))
    counts = curate(tmp_path, tree, subset="curated_repos", assume_license="0BSD",
                    allow_license=["0bsd"], languages=["python"])  # fmt: skip
    rows = {row["path"]: row for row in kept_rows(tmp_path / "out")}
    assert set(rows) == {"unlicensed/notes.py", "mit_project/geometry/shapes.py"}
    assert rows["unlicensed/notes.py"]["license"] == "0bsd"  # the declared license
    assert {row["subset"] for row in rows.values()} == {"curated_repos"}
    assert counts["dropped"]["language_excluded"] == 1


def test_positive_only_and_min_quality(tmp_path):
    tree = tmp_path / "repo"
    for rel in ("mit_project/LICENSE", "mit_project/geometry/vectors.py",
                "mit_project/webapp/views.py", "mit_project/scripts/messy.py"):  # fmt: skip
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(sample(rel))
    counts = curate(tmp_path, tree, positive_only=True)
    assert counts["dropped"]["negative"] == 2 and counts["kept_documents"] == 1
    counts = curate(tmp_path, tree, min_quality=0.95)  # a new config: the output is redone
    assert counts["labels"] == {"negative": 3}
    assert counts["negatives"]["low_quality"] == 2  # vectors.py and messy.py


def test_corrupt_parquet_input_is_a_one_line_error_and_writes_nothing(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1" + b"\x00garbage" * 20)
    result = run_tritter("curate", "--input", str(bad), "--output", str(tmp_path / "out"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tritter: error: {bad}: not a readable Parquet")
    assert (
        not list((tmp_path / "out").glob("part-*"))
        and not (tmp_path / "out/_manifest.json").exists()
    )


def test_missing_input_and_unwritable_output(tmp_path):
    result = run_tritter(
        "curate", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"tritter: error: {tmp_path / 'nope'}: input not found"
    (tmp_path / "file").write_text("x")
    result = run_tritter("curate", "--input", str(SAMPLES), "--output", str(tmp_path / "file/out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tritter: error: {tmp_path / 'file/out'}")


def test_special_files_are_counted_not_read(tmp_path):
    import os

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok.py").write_text(sample("mit_project/geometry/vectors.py"))
    os.mkfifo(tree / "pipe.py")  # reading it would block forever
    os.symlink(tree, tree / "loop")  # a directory symlink (a cycle) is not followed
    counts = curate(tmp_path, tree, allow_unknown_license=True)
    assert counts["input_documents"] == 2
    assert counts["dropped"] == {"unreadable": 1}


def test_steps_run_one_by_one_match_the_all_in_one_run(tmp_path):
    tree = SAMPLES / "mit_project"
    config = {"input": str(tree), "output": str(tmp_path / "stepwise"), "shard_mb": 0.005}
    info = plan(CurateConfig.model_validate(config))
    assert info.complete is False and info.shards > 2
    with pytest.raises(TritterError, match="has not been processed"):
        dedup_index(config["output"], 0)
    for index in reversed(range(info.shards)):
        process_shard(config["output"], index)
    for group in range(info.band_groups):
        dedup_index(config["output"], group)
    for index in range(info.shards):
        apply_shard(config["output"], index)
    stepwise = finalize(config["output"]).to_dict()["counts"]
    assert plan(CurateConfig.model_validate(config)).complete is True
    assert process_shard(config["output"], 0) == Skipped()  # finished: the unit is skipped
    together = curate(tmp_path, tree, shard_mb=0.005)
    assert together == stepwise
    for name in sorted(p.name for p in (tmp_path / "out").glob("part-*")):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "stepwise" / name).read_bytes()
    other = str(tmp_path / "other")
    plan(CurateConfig.model_validate({**config, "output": other}))
    with pytest.raises(TritterError, match="shard index 99 out of range"):
        process_shard(other, 99)
