"""Prometheus plumbing shared by every stage.

Long-lived training pods serve `/metrics` (scraped through a PodMonitor on the port named
`metrics`); short pipeline steps push their final counters to a Pushgateway when
`TRITTER_PUSHGATEWAY_URL` is set. Names follow Prometheus conventions: the `tritter_` prefix,
base units (seconds, bytes), `_total` for counters, ratios in 0–1.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server

from tritter import log, storage

_log = log.get_logger("metrics")

PUSHGATEWAY_ENV = "TRITTER_PUSHGATEWAY_URL"


def run_label(output: str) -> str:
    """The `run` label of a stage writing `output`: the name of the run folder holding it
    (`s3://b/runs/demo/checkpoints` → `demo`), so one run's data, training and evaluation
    series share it and concurrent runs never overwrite each other's."""
    normalized = storage.normalize(output).rstrip("/\\")
    parent = normalized[: -len(storage.basename(normalized))].rstrip("/\\")
    return storage.basename(parent) or storage.basename(normalized) or "run"


ADDRESS_ENV = "TRITTER_METRICS_ADDRESS"


def bind_address() -> str:
    """Where `/metrics` listens: TRITTER_METRICS_ADDRESS when set; all interfaces inside a
    Kubernetes pod (KUBERNETES_SERVICE_HOST is set there), where the PodMonitor scrapes the
    pod's IP; otherwise loopback only, so a local run does not expose its metrics to the
    network."""
    configured = os.environ.get(ADDRESS_ENV, "").strip()
    if configured:
        return configured
    return "0.0.0.0" if os.environ.get("KUBERNETES_SERVICE_HOST") else "127.0.0.1"


def serve(port: int, registry: CollectorRegistry, addr: str | None = None) -> None:
    """Serve `registry` on `port` in a daemon thread (port 0 disables)."""
    if port:
        addr = addr or bind_address()
        start_http_server(port, addr=addr, registry=registry)
        log.event(_log, "serving Prometheus metrics", address=addr, port=port)


def push(registry: CollectorRegistry, job: str, grouping: dict[str, str] | None = None) -> bool:
    """Push to the Pushgateway named by TRITTER_PUSHGATEWAY_URL, if any.

    A monitoring outage must not fail a data stage, so errors are logged, not raised.
    Returns True when the push happened.
    """
    url = os.environ.get(PUSHGATEWAY_ENV)
    if not url:
        return False
    try:
        push_to_gateway(url, job=job, registry=registry, grouping_key=grouping or {}, timeout=10)
    except OSError as err:
        log.event(_log, "pushgateway push failed", url=url, error=str(err))
        return False
    return True
