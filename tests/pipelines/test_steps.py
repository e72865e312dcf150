"""The step bodies driven by hand the way the pipeline drives them: fan-out units, barriers,
finalize, and a relaunch over finished stages that does no work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.corpus import build_source
from tritter import manifest
from tritter.errors import TritterError
from tritter.jobs import curate as curate_job
from tritter.jobs import pack as pack_job
from tritter.jobs import settings as settings_job
from tritter.jobs import tokenizer as tokenizer_job


def _curate(settings: str) -> str:
    processed = [curate_job.process_unit(u) for u in curate_job.plan(settings)]
    indexed = [curate_job.index_unit(u) for u in curate_job.groups(settings, processed)]
    applied = [curate_job.apply_unit(u) for u in curate_job.apply_units(settings, indexed)]
    return curate_job.finalize(settings, applied)


def _pack(settings: str, curated: str) -> tuple[str, str]:
    tokenizer = tokenizer_job.train(settings, curated)
    packed = [pack_job.shard_unit(unit) for unit in pack_job.plan(settings, curated, tokenizer)]
    return tokenizer, pack_job.finalize(settings, packed)


def _stamps(*folders: str) -> list[int]:
    return [Path(manifest.manifest_uri(f)).stat().st_mtime_ns for f in folders]


def test_data_stages_fan_out_then_relaunch_is_a_no_op(tmp_path):
    source = build_source(tmp_path / "src", python_bytes=150_000)
    settings = settings_job.check_parameters(
        source=str(source), run_root=str(tmp_path / "run"), vocab_size=1024, seq_len=64
    )
    units = curate_job.plan(settings)
    assert [json.loads(u)["index"] for u in units] == list(range(len(units)))
    curated = _curate(settings)
    tokenizer, tokens = _pack(settings, curated)
    assert tokens == str(tmp_path / "run" / "tokens")
    assert manifest.read_manifest(tokens).counts
    stamps = _stamps(curated, tokenizer, tokens)

    # A relaunch: every stage yields no-op units and no manifest is rewritten.
    assert _curate(settings) == curated
    assert _pack(settings, curated) == (tokenizer, tokens)
    assert _stamps(curated, tokenizer, tokens) == stamps


def test_barriers_refuse_missing_units(tmp_path):
    source = build_source(tmp_path / "src", python_bytes=30_000)
    settings = settings_job.check_parameters(source=str(source), run_root=str(tmp_path / "run"))
    units = curate_job.plan(settings)
    with pytest.raises(TritterError, match="curate process: expected units"):
        curate_job.groups(settings, processed=[])
    assert units
