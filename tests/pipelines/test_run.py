"""`tritter run`: the compiled pipeline end to end with KFP's local SubprocessRunner."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_tritter
from tests.deploy.corpus import build_source
from tritter import storage

# Small enough for two CPU cores: a 2k vocabulary, 128-token windows, 6 training steps.
FAST = [
    "--vocab-size", "2048", "--seq-len", "128", "--max-steps", "6", "--checkpoint-every", "3",
    "--eval-tasks", "perplexity,humaneval", "--eval-limit", "1", "--eval-max-new-tokens", "16",
]  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return build_source(tmp_path_factory.mktemp("source"))


def check_run(root: str) -> None:
    for stage in ("curated", "tokenizer", "tokens", "eval", "report"):
        assert storage.exists(storage.join(root, stage, "_manifest.json")), stage
    checkpoints = storage.join(root, "checkpoints")
    records = [
        json.loads(line)
        for line in storage.read_text(storage.join(checkpoints, "metrics.jsonl")).splitlines()
    ]
    steps = [r["step"] for r in records if r["kind"] == "train"]
    assert steps and max(steps) == 6
    assert storage.exists(storage.join(checkpoints, "final", "config.json"))
    assert storage.exists(storage.join(checkpoints, "final", "model.safetensors"))
    results = json.loads(storage.read_text(storage.join(root, "eval", "results.json")))
    assert {"perplexity", "humaneval"} <= set(results["tasks"])
    assert storage.exists(storage.join(root, "report", "report.html"))


@pytest.mark.slow
def test_run_on_a_local_folder(source, tmp_path):
    root = tmp_path / "run"
    result = run_tritter("run", "--input", str(source), "--output", str(root), *FAST)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"report: {root}/report/report.html" in result.stdout
    check_run(str(root))


@pytest.mark.slow
def test_run_with_s3_as_the_run_root(source, s3_bucket, s3_env):
    root = f"{s3_bucket}/runs/first"
    result = run_tritter("run", "--input", str(source), "--output", root, *FAST, env=s3_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    check_run(root)


def test_bad_parameter_is_one_line_before_anything_runs(tmp_path):
    result = run_tritter("run", "--output", str(tmp_path / "run"), "--seq-len", "3")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("tritter: error:")
    assert "seq_len" in result.stderr
    assert not (tmp_path / "run").exists()


def test_failing_step_ends_with_its_own_error_line(tmp_path):
    missing = tmp_path / "no-such-source"
    result = run_tritter("run", "--input", str(missing), "--output", str(tmp_path / "run"))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tritter: error:") and str(missing) in last, last
