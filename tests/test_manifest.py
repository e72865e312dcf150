"""Manifests: fingerprints, completeness, file verification."""

from __future__ import annotations

import pytest

from tritter import manifest, storage
from tritter.errors import TritterError


def test_round_trip_and_completeness(tmp_path):
    folder = str(tmp_path / "stage")
    shard = storage.join(folder, "part-00000.bin")
    storage.write_bytes(shard, b"abc")
    fp = manifest.fingerprint("demo", {"input": "x"}, {"k": 1})
    assert not manifest.is_complete(folder, fp)  # no manifest yet: incomplete
    m = manifest.Manifest(
        stage="demo",
        fingerprint=fp,
        inputs={"input": "x"},
        config={"k": 1},
        counts={"documents": 1},
        files=[manifest.file_entry(folder, shard)],
    )
    manifest.write_manifest(folder, m)
    back = manifest.require_manifest(folder, stage="demo")
    assert back.files[0].path == "part-00000.bin" and back.files[0].size == 3
    assert back.code_version.startswith("0.")
    # the run record names the libraries that made it
    import platform

    import torch

    assert back.versions["python"] == platform.python_version()
    assert torch.__version__.startswith(back.versions["torch"])  # "2.13.0" of "2.13.0+cpu"
    assert set(manifest.RECORDED_PACKAGES) <= set(back.versions)
    assert back.versions["kfp"] == "2.17.0"
    assert manifest.is_complete(folder, fp)
    assert not manifest.is_complete(folder, manifest.fingerprint("demo", {"input": "y"}, {"k": 1}))
    manifest.verify_files(folder, back, check_hash=True)


def test_verify_detects_truncation_and_loss(tmp_path):
    folder = str(tmp_path)
    shard = storage.join(folder, "s.bin")
    storage.write_bytes(shard, b"abcdef")
    m = manifest.Manifest("demo", "fp", {}, {}, files=[manifest.file_entry(folder, shard)])
    storage.write_bytes(shard, b"abc")
    with pytest.raises(TritterError, match="truncated"):
        manifest.verify_files(folder, m)
    storage.delete(shard)
    with pytest.raises(TritterError, match="missing"):
        manifest.verify_files(folder, m)


def test_missing_and_corrupt_manifest(tmp_path):
    with pytest.raises(TritterError, match="has not finished"):
        manifest.require_manifest(str(tmp_path))
    storage.write_text(manifest.manifest_uri(str(tmp_path)), "{not json")
    with pytest.raises(TritterError, match="corrupt manifest"):
        manifest.read_manifest(str(tmp_path))


def test_wrong_stage_is_named(tmp_path):
    manifest.write_manifest(str(tmp_path), manifest.Manifest("pack", "fp", {}, {}))
    with pytest.raises(TritterError, match="expected output of stage 'curate'"):
        manifest.require_manifest(str(tmp_path), stage="curate")


def test_manifest_on_s3(s3_bucket):
    folder = f"{s3_bucket}/run/curated"
    storage.write_bytes(f"{folder}/a.parquet", b"1234")
    m = manifest.Manifest(
        "curate", "fp", {}, {}, files=[manifest.file_entry(folder, f"{folder}/a.parquet")]
    )
    manifest.write_manifest(folder, m)
    assert manifest.require_manifest(folder).files[0].path == "a.parquet"


def test_a_manifest_written_before_versions_were_recorded_still_reads(tmp_path):
    import json

    folder = str(tmp_path)
    written = manifest.Manifest("demo", "fp", {}, {}).to_dict()
    del written["versions"]
    storage.write_text(manifest.manifest_uri(folder), json.dumps(written))
    assert manifest.require_manifest(folder, stage="demo").versions == {}
