"""A dead S3 endpoint fails fast with one line naming it: a black-hole TCP server on loopback
(it accepts connections and never answers) stands in for it. The test's own timeouts come from
the TRITTER_S3_* settings; the defaults are checked by computing their worst case."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.conftest import run_tritter
from tritter import storage
from tritter.errors import TritterError
from tritter.storage import S3Timeouts

SMALL = {"TRITTER_S3_CONNECT_TIMEOUT": "1", "TRITTER_S3_READ_TIMEOUT": "1",
         "TRITTER_S3_MAX_ATTEMPTS": "2"}  # fmt: skip
SETTINGS = ("TRITTER_S3_CONNECT_TIMEOUT", "TRITTER_S3_READ_TIMEOUT", "TRITTER_S3_MAX_ATTEMPTS")


class BlackHole:
    """Accepts every connection on a loopback port, then never reads or answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=5)
        for connection in self.held:
            connection.close()
        self.server.close()


@pytest.fixture
def hole(monkeypatch):
    server = BlackHole()
    env = {"AWS_ENDPOINT_URL_S3": server.endpoint, "AWS_ACCESS_KEY_ID": "k",
           "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1", **SMALL}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    storage.reset_clients()
    yield server, env
    storage.reset_clients()
    server.close()


def test_a_dead_endpoint_fails_within_the_configured_bound(hole):
    server, _ = hole
    bound = S3Timeouts.from_env().worst_case_seconds()
    assert bound == 2 * (1 + 1) + 1
    started = time.monotonic()
    with pytest.raises(TritterError) as caught:
        storage.read_bytes("s3://bucket/run/curated/_manifest.json")
    elapsed = time.monotonic() - started
    assert elapsed <= bound + 1.0, elapsed
    assert len(server.held) == 2  # both attempts reached the endpoint and waited it out
    message = str(caught.value)
    assert message.startswith("s3://bucket/run/curated/_manifest.json: S3 endpoint ")
    assert f"{server.endpoint} did not answer" in message and "\n" not in message


def test_the_cli_names_the_dead_endpoint_in_one_line(hole, tmp_path):
    server, env = hole
    done = run_tritter("tokenizer", "train", "--input", "s3://bucket/run/curated", "--output",
                       str(tmp_path / "tokenizer"), env=env, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("tritter: error: s3://bucket/run/curated/_manifest.json: S3 endpoint ")
    assert server.endpoint in last and "TRITTER_S3_READ_TIMEOUT" in last


def test_the_defaults_fail_a_dead_endpoint_within_a_minute(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    defaults = S3Timeouts.from_env()
    assert defaults == S3Timeouts()
    # Every attempt waits out both timeouts, with botocore's largest backoff between them.
    assert defaults.worst_case_seconds() <= 60, defaults
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    storage.reset_clients()
    try:
        config = storage.s3_client().meta.config
        assert config.connect_timeout == defaults.connect
        assert config.read_timeout == defaults.read
        assert config.retries == {"mode": "standard", "total_max_attempts": defaults.attempts}
    finally:
        storage.reset_clients()


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_setting_is_one_line_naming_it(monkeypatch, value):
    monkeypatch.setenv("TRITTER_S3_READ_TIMEOUT", value)
    with pytest.raises(TritterError, match=r"^TRITTER_S3_READ_TIMEOUT: expected a positive"):
        S3Timeouts.from_env()
