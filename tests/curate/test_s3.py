"""Curation against a real S3 server (SeaweedFS): S3 source tree, S3 document set, S3 output,
and an unreachable endpoint."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import run_tritter
from tests.curate.conftest import curate_args
from tests.curate.corpus import build_corpus
from tests.support.seaweed import free_port
from tritter import storage


def upload_tree(root: Path, prefix: str) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if path.is_symlink() and not path.exists():
                continue  # S3 has no symlinks
            storage.upload_file(path, storage.join(prefix, str(path.relative_to(root))))


def outcomes_from(prefix: str) -> dict[str, str]:
    found = {}
    for info in storage.list_objects(prefix, suffix=".parquet"):
        with storage.local_copy(info.uri) as path:
            for row in pq.read_table(path).to_pylist():
                found[row["path"]] = row["quality_label"]
    for info in storage.list_objects(storage.join(prefix, "rejects")):
        for line in storage.read_text(info.uri).splitlines():
            record = json.loads(line)
            found[record["path"]] = record["reason"]
    return found


def test_s3_source_tree_to_s3_output_matches_the_local_run(s3_bucket, s3_env, tmp_path):
    corpus = build_corpus(tmp_path / "src")
    os.unlink(corpus.root / "mit_project/geometry/dangling.py")
    upload_tree(corpus.root, f"{s3_bucket}/src")
    remote = run_tritter(
        *curate_args(f"{s3_bucket}/src", f"{s3_bucket}/curated", "--shard-mb", "0.02"), env=s3_env
    )
    assert remote.returncode == 0, remote.stderr
    local = run_tritter(*curate_args(corpus.root, tmp_path / "local", "--shard-mb", "0.02"))
    assert local.returncode == 0, local.stderr
    manifest = json.loads(storage.read_text(f"{s3_bucket}/curated/_manifest.json"))
    local_manifest = json.loads((tmp_path / "local/_manifest.json").read_text())
    assert manifest["counts"]["dropped"] == local_manifest["counts"]["dropped"]
    assert manifest["counts"]["kept_documents"] == local_manifest["counts"]["kept_documents"] > 5
    for entry in manifest["files"]:  # every listed file is there with its recorded size
        assert storage.size(f"{s3_bucket}/curated/{entry['path']}") == entry["size"]
    assert not storage.list_objects(f"{s3_bucket}/curated/_work")  # removed after the manifest
    assert outcomes_from(f"{s3_bucket}/curated") == outcomes_from(str(tmp_path / "local"))
    again = run_tritter(
        *curate_args(f"{s3_bucket}/src", f"{s3_bucket}/curated", "--shard-mb", "0.02"), env=s3_env
    )
    assert again.returncode == 0 and "already complete" in again.stdout


def test_s3_jsonl_document_set(s3_bucket, s3_env):
    samples = Path(__file__).parent / "samples"
    rows = [
        {"text": (samples / rel).read_text(), "path": rel, "license": "MIT"}
        for rel in ("mit_project/geometry/vectors.py", "rust_crate/src/lib.rs", "js_pkg/index.js")
    ]
    body = "\n".join(json.dumps(r) for r in rows) + "\n{not json\n"
    storage.write_text(f"{s3_bucket}/docs/part-0.jsonl", body)
    result = run_tritter(
        "curate", "--input", f"{s3_bucket}/docs", "--output", f"{s3_bucket}/out",
        "--shard-mb", "0.003", env=s3_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    counts = json.loads(storage.read_text(f"{s3_bucket}/out/_manifest.json"))["counts"]
    assert counts["input_documents"] == 4 and counts["kept_documents"] == 3
    assert counts["dropped"] == {"corrupt_record": 1}


def test_unreachable_s3_endpoint_is_a_one_line_error(tmp_path):
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "TRITTER_S3_MAX_ATTEMPTS": "2",
        "TRITTER_S3_CONNECT_TIMEOUT": "1",
    }
    started = time.monotonic()
    result = run_tritter("curate", "--input", "s3://bucket/src", "--output",
                         str(tmp_path / "out"), env=env)  # fmt: skip
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tritter: error: s3://bucket/src")
    result = run_tritter("curate", "--input", str(tmp_path), "--output", "s3://bucket/out", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("tritter: error: s3://bucket/out")
