"""The Kubeflow entry points (`jobs.tokenizer`, `jobs.pack`): plain functions over JSON config."""

from __future__ import annotations

import json

import pytest

from jobs import pack as pack_job
from jobs import tokenizer as tokenizer_job
from tests.pack.helpers import manifest
from tritter.errors import TritterError


def test_pack_steps_as_components(artifacts, tmp_path):
    output = str(tmp_path / "tokens")
    config = {
        "input": str(artifacts.curated),
        "tokenizer": str(artifacts.tokenizer),
        "output": output,
        "seq_len": 64,
        "mix": "python=1",
        "token_budget": 30_000,
        "workers": 1,
    }
    info = pack_job.plan(json.dumps(config))
    assert info == {"shards": info["shards"], "complete": False, "output": output}
    results = [pack_job.pack_shard(output, i) for i in range(info["shards"])]
    assert [r["index"] for r in results] == list(range(info["shards"]))
    assert not any(r["skipped"] for r in results)
    assert pack_job.pack_shard(output, 0)["skipped"] is True  # retried pod: nothing redone
    counts = pack_job.finalize(output)
    assert counts["tokens"]["train"] == {"python": counts["tokens_total"]["train"]}
    assert manifest(tmp_path / "tokens")["counts"] == counts
    assert pack_job.plan(json.dumps(config))["complete"] is True


def test_tokenizer_job_returns_the_manifest_facts(artifacts):
    config = {
        "input": str(artifacts.curated),
        "output": str(artifacts.tokenizer),
        "vocab_size": 2048,
        "sample_bytes": 600_000,
        "heldout_bytes": 60_000,
        "threads": 2,
    }
    summary = tokenizer_job.train(json.dumps(config))  # already trained: only verified
    found = manifest(artifacts.tokenizer)
    assert summary["sha256"] == found["extra"]["sha256"]
    assert summary["special_ids"]["eos"] == 2
    assert summary["compression"] == found["counts"]["compression"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{", "invalid JSON"),
        ("[1]", "JSON object"),
        ('{"input": "x"}', "invalid config field '(output|tokenizer)'"),
    ],
)
def test_bad_job_config(text, expected):
    for parse in (tokenizer_job.parse_config, pack_job.parse_config):
        with pytest.raises(TritterError, match=expected):
            parse(text)
