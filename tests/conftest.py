"""Shared fixtures: a real SeaweedFS S3 server, per-test buckets, the `tritter` CLI, and the
tiny pretrained and SFT-tuned models the post-training and evaluation tests share."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.seaweed import SeaweedS3
from tritter import storage

REPO = Path(__file__).resolve().parent.parent
_bucket_numbers = itertools.count()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One `weed mini` for the whole session, on free loopback ports."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Point this process's S3 clients at the test server; returns the env for subprocesses."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    storage.reset_clients()
    yield dict(s3_server.env)
    storage.reset_clients()


@pytest.fixture
def s3_bucket(s3_server, s3_env) -> str:
    """A fresh, empty bucket for this test: returns `s3://name`."""
    name = f"tritter-test-{os.getpid()}-{next(_bucket_numbers)}"
    return s3_server.create_bucket(name)


def run_tritter(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess:
    """Run the real `tritter` CLI in a subprocess (as a user would) and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tritter.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
    )


@pytest.fixture
def tritter_cli():
    """`tritter_cli(*args, env=...)` → CompletedProcess of the real CLI."""
    return run_tritter


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """The shared curated folder, CLI-trained tokenizer and pack (built once per session)."""
    from tests.tokenizer.support import build  # it imports `run_tritter` from here

    return build(tmp_path_factory.getbasetemp() / "tokpack")


# -- post-training inputs (tests/sft, tests/evaluate): built once per session with the real stages


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> dict[str, str]:
    """tokenizer/, tokens/ and checkpoints/ of 30 pretraining steps of `tiny`."""
    from tests.train.data import build

    root = tmp_path_factory.mktemp("sft-base")
    data = build(root)
    checkpoints = str(root / "checkpoints")
    done = run_tritter(
        "pretrain", "--data", data["tokens"], "--tokenizer", data["tokenizer"],
        "--output", checkpoints, "--model", "tiny", "--seq-len", "64", "--micro-batch-size", "4",
        "--max-steps", "30", "--optim.lr", "3e-3", "--metrics-port", "0",
        "--checkpoint.every", "30",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return {**data, "checkpoints": checkpoints, "root": str(root)}


@pytest.fixture(scope="session")
def sources(base, tmp_path_factory) -> dict[str, str]:
    """The identity set (`tritter synth identity`) and the tool-use set, with malformed rows."""
    from tests.sft.conftest import tool_conversations, write_jsonl

    root = tmp_path_factory.mktemp("sft-sources")
    identity = str(root / "identity")
    done = run_tritter("synth", "identity", "--output", identity, "--count", "400")
    assert done.returncode == 0, done.stderr[-3000:]
    tools = write_jsonl(
        root / "tools.jsonl",
        tool_conversations(400),
        extra_lines=(
            "{not json\n",
            json.dumps({"messages": [{"role": "robot", "content": "hi"}]}) + "\n",
            json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n",
        ),
    )
    return {"identity": identity, "tools": tools}


@pytest.fixture(scope="session")
def tuned(base, sources, tmp_path_factory) -> str:
    """A few hundred SFT steps on identity and tool use: enough for a tiny model to learn both
    formats."""
    from tests.sft.conftest import sft_args

    output = str(tmp_path_factory.mktemp("sft-tuned") / "sft")
    done = run_tritter(*sft_args(base, sources, output, "--max-steps", "250",
                                 "--checkpoint.every", "250"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return output
