"""The pack and tokenizer stages as the pipeline steps drive them: plan, every shard as its own
unit, finalize — with typed configs, and bad configs refused with one line naming the field."""

from __future__ import annotations

import pytest

from tests.pack.helpers import manifest
from tritter.config import validate
from tritter.errors import TritterError
from tritter.pack import finalize, plan, shard
from tritter.pack.config import PackConfig
from tritter.tokenizer import stage as tokenizer_stage
from tritter.tokenizer.config import TokenizerConfig


def test_pack_steps_as_components(artifacts, tmp_path):
    output = str(tmp_path / "tokens")
    config = PackConfig(
        input=str(artifacts.curated), tokenizer=str(artifacts.tokenizer), output=output,
        seq_len=64, mix={"python": 1}, token_budget=30_000, workers=1,
    )  # fmt: skip
    made, complete = plan.make_plan(config)
    assert complete is False and made.output == output
    results = [shard.pack_shard(output, i) for i in range(len(made.shards))]
    assert [r["index"] for r in results] == list(range(len(made.shards)))
    assert not any(r.get("skipped") for r in results)
    assert shard.pack_shard(output, 0)["skipped"] is True  # retried pod: nothing redone
    counts = finalize.finalize(output).counts
    assert counts.tokens["train"] == {"python": counts.tokens_total["train"]}
    assert manifest(tmp_path / "tokens")["counts"] == counts.model_dump(mode="json")
    assert plan.make_plan(config)[1] is True


def test_tokenizer_stage_returns_the_manifest_facts(artifacts):
    config = TokenizerConfig(
        input=str(artifacts.curated), output=str(artifacts.tokenizer), vocab_size=2048,
        sample_bytes=600_000, heldout_bytes=60_000, threads=2,
    )  # fmt: skip
    summary = tokenizer_stage.run(config)  # already trained: only verified
    found = manifest(artifacts.tokenizer)
    assert summary.extra.sha256 == found["extra"]["sha256"]
    assert summary.extra.special_ids["eos"] == 2
    assert summary.counts.model_dump(mode="json")["compression"] == found["counts"]["compression"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"input": "x"}, "invalid config field '(output|tokenizer)'"),
        ({"input": "x", "output": "x", "tokenizer": "t", "seq_len": 64}, "must differ"),
    ],
)
def test_bad_job_config(data, expected):
    for cls in (TokenizerConfig, PackConfig):
        with pytest.raises(TritterError, match=expected):
            validate(cls, data)
