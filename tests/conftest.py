"""Shared fixtures: a real SeaweedFS S3 server, per-test buckets, and the `tritter` CLI."""

from __future__ import annotations

import itertools
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
