"""Every Grafana panel's query returns data from a real Prometheus scraping real stages.

Curation, tokenizer training and packing run with TRITTER_PUSHGATEWAY_URL pointing at a real
Pushgateway (Debian's prometheus-pushgateway); a short real `tritter pretrain` serves its
metrics endpoint; the Debian Prometheus scrapes both every second on loopback; then each panel's
PromQL (Grafana variables replaced as Grafana would for "All") is evaluated through the HTTP API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import run_tritter
from tests.deploy.corpus import build_source
from tests.deploy.prometheus import BINARY, PUSHGATEWAY, Prometheus, Pushgateway
from tests.support.real_parts import need_program
from tests.support.seaweed import free_port
from tritter.deploy import dashboards

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _prometheus_installed():
    need_program(BINARY, "prometheus")
    need_program(PUSHGATEWAY, "prometheus-pushgateway")


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_every_panel_query_returns_data(tmp_path):
    gateway = Pushgateway(tmp_path)
    metrics_port = free_port()
    try:
        # The trainer's endpoint is scraped twice, as two nodes' local rank 0 would be: both
        # serve the same global values, which the panels must not count twice.
        endpoint = f"127.0.0.1:{metrics_port}"
        prometheus = Prometheus(
            tmp_path,
            {"training": endpoint, "training-node-1": endpoint, "pushgateway": gateway.address},
        )
    except Exception:
        gateway.stop()
        raise
    trainer = None
    try:
        env = {"TRITTER_PUSHGATEWAY_URL": gateway.url}
        source = build_source(tmp_path / "src", python_bytes=150_000)
        run = tmp_path / "run"
        _ok(run_tritter("curate", "--input", str(source), "--output", str(run / "curated"),
                        "--shard-mb", "0.05", "--workers", "2", env=env))  # fmt: skip
        _ok(run_tritter("tokenizer", "train", "--input", str(run / "curated"), "--output",
                        str(run / "tokenizer"), "--vocab-size", "1024", env=env))  # fmt: skip
        _ok(run_tritter("pack", "--input", str(run / "curated"), "--tokenizer",
                        str(run / "tokenizer"), "--output", str(run / "tokens"),
                        "--seq-len", "64", env=env))  # fmt: skip
        trainer = subprocess.Popen(
            [sys.executable, "-m", "tritter.cli", "pretrain", "--data", str(run / "tokens"),
             "--tokenizer", str(run / "tokenizer"), "--output", str(run / "checkpoints"),
             "--model", "tiny", "--seq-len", "64", "--micro-batch-size", "4",
             "--max-steps", "12", "--checkpoint.every", "4", "--val-every", "6",
             "--metrics-port", str(metrics_port), "--hold-metrics-seconds", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        # Wait until training is over (the final step is scraped) while the endpoint is held.
        deadline = time.monotonic() + 240
        done = False
        while time.monotonic() < deadline and not done:
            assert trainer.poll() is None, trainer.stdout.read()[-3000:]
            found = prometheus.query("max(tritter_train_step)")
            done = bool(found) and float(found[0]["value"][1]) >= 12
            time.sleep(1)
        assert done, "training did not reach step 12 in time"
        time.sleep(3)  # a few more scrapes for rate()
        assert prometheus.targets_up() == {
            "training": 1.0,
            "training-node-1": 1.0,
            "pushgateway": 1.0,
        }
        empty = []
        for name, text in dashboards.dashboards().items():
            for title, expr in dashboards.queries(json.loads(text)):
                if not prometheus.query(expr):
                    empty.append(f"{name}: {title}: {expr}")
        # Only the DCGM exporter's panels may be empty: no GPU, no exporter on this machine.
        assert [e for e in empty if "DCGM_" not in e] == []
        assert len(empty) == 2
        # Spot-check values against what the stages did.
        shards = prometheus.query('sum(tritter_data_shards_done_total{stage="pack"})')
        assert float(shards[0]["value"][1]) >= 1
        loss = prometheus.query("tritter_train_loss")
        assert 0 < float(loss[0]["value"][1]) < 20
        panels = dict(dashboards.queries(json.loads(dashboards.dashboards()["training.json"])))
        # One series per run, not one per node; tokens counted once, not once per node.
        assert len(prometheus.query(panels["Loss"])) == 1
        # Both queries at one moment: the panel shows one node's rate (every node counts the
        # global tokens), where a panel summing the nodes would show their sum.
        now = time.time()
        (tokens,) = prometheus.query(panels["Tokens consumed"], at=now)
        per_node = [float(series["value"][1]) for series in
                    prometheus.query("rate(tritter_train_tokens_total[1m])", at=now)]  # fmt: skip
        assert len(per_node) == 2 and min(per_node) > 0
        assert float(tokens["value"][1]) == pytest.approx(max(per_node))
        # The data steps pushed with the run's name, which the data dashboard selects by.
        data = dict(dashboards.queries(json.loads(dashboards.dashboards()["data.json"])))
        kept = prometheus.query(data["Documents kept"])
        assert kept and {series["metric"].get("run") for series in kept} == {"run"}
    finally:
        if trainer is not None and trainer.poll() is None:
            trainer.terminate()
            trainer.wait(timeout=30)
        prometheus.stop()
        gateway.stop()
