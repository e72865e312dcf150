"""The Prometheus endpoint listens on loopback for a local run and on every interface only
inside a Kubernetes pod (where the PodMonitor scrapes the pod IP) or when
TRITTER_METRICS_ADDRESS asks. Checked on a real server process through /proc/net/tcp."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.seaweed import free_port

SERVE = """
import sys, time
from prometheus_client import CollectorRegistry
from tritter import metrics
metrics.serve(int(sys.argv[1]), CollectorRegistry())
print("serving", flush=True)
time.sleep(60)
"""
LOOPBACK, ANY = "0100007F", "00000000"  # /proc/net/tcp's little-endian hex IPv4 addresses


def listening_address(port: int) -> str | None:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
            return address
    return None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, LOOPBACK),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, ANY),
        ({"TRITTER_METRICS_ADDRESS": "0.0.0.0"}, ANY),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "TRITTER_METRICS_ADDRESS": "127.0.0.1"}, LOOPBACK),
    ],
)
def test_metrics_bind_address(env, expected):
    port = free_port()
    clean = {k: v for k, v in os.environ.items()
             if k not in ("KUBERNETES_SERVICE_HOST", "TRITTER_METRICS_ADDRESS")}  # fmt: skip
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env={**clean, **env},
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout.readline().strip() == "serving"
        deadline = time.monotonic() + 10
        while listening_address(port) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listening_address(port) == expected
    finally:
        server.kill()
        server.wait(timeout=10)
