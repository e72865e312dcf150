"""The step bodies driven by hand the way the pipeline drives them: fan-out units, barriers,
finalize, and a relaunch over finished stages that does no work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.corpus import build_source
from tritter import manifest
from tritter.deploy import steps
from tritter.errors import TritterError


def _curate(settings: str) -> str:
    processed = [steps.curate_process(unit) for unit in steps.curate_plan(settings)]
    indexed = [steps.curate_index(unit) for unit in steps.curate_groups(settings, processed)]
    applied = [steps.curate_apply(unit) for unit in steps.curate_apply_units(settings, indexed)]
    return steps.curate_finalize(settings, applied)


def _pack(settings: str, curated: str) -> tuple[str, str]:
    tokenizer = steps.tokenizer_train(settings, curated)
    packed = [steps.pack_shard(unit) for unit in steps.pack_plan(settings, curated, tokenizer)]
    return tokenizer, steps.pack_finalize(settings, packed)


def _stamps(*folders: str) -> list[int]:
    return [Path(manifest.manifest_uri(f)).stat().st_mtime_ns for f in folders]


def test_data_stages_fan_out_then_relaunch_is_a_no_op(tmp_path):
    source = build_source(tmp_path / "src", python_bytes=150_000)
    settings = steps.check_parameters(
        source=str(source), run_root=str(tmp_path / "run"), vocab_size=1024, seq_len=64
    )
    units = steps.curate_plan(settings)
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
    settings = steps.check_parameters(source=str(source), run_root=str(tmp_path / "run"))
    units = steps.curate_plan(settings)
    with pytest.raises(TritterError, match="curate process: expected units"):
        steps.curate_groups(settings, processed=[])
    assert units
