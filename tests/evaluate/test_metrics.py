"""Evaluation pushes tritter_eval_* gauges to the Pushgateway named by TRITTER_PUSHGATEWAY_URL
(here a real HTTP server on loopback that records the pushes)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tritter.evaluate.metrics import push_results

RESULTS = {
    "tasks": {
        "perplexity": {
            "subsets": {"python": {"loss": 1.1, "perplexity": 3.004, "bpb": 0.42}},
            "overall": {"loss": 1.2, "perplexity": 3.32, "bpb": 0.45},
            "seconds": 12.5,
        },
        "humaneval": {
            "problems": 164,
            "pass@1": 0.25,
            "pass@10": 0.5,
            "seconds": 80.0,
            "generation": {"tokens_per_second": 950.5},
            "sandbox_seconds_per_sample": 0.031,
        },
        "identity": {
            "problems": 34,
            "consistency": 0.5,
            "names_persona": 1.0,
            "claims_human": 0.5,
            "generation": {"tokens_per_second": 300.0},
        },
    }
}


@pytest.fixture
def pushgateway(monkeypatch):
    received: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TRITTER_PUSHGATEWAY_URL", f"http://127.0.0.1:{server.server_port}")
    yield received
    server.shutdown()
    server.server_close()


def test_pushes_eval_gauges_grouped_by_run(pushgateway):
    assert push_results(RESULTS, "run-7") is True
    [(path, body)] = pushgateway
    assert path == "/metrics/job/tritter_evaluate/run/run-7"
    for line in (
        'tritter_eval_pass_at_k_ratio{k="1",run="run-7",task="humaneval"} 0.25',
        'tritter_eval_pass_at_k_ratio{k="10",run="run-7",task="humaneval"} 0.5',
        'tritter_eval_problems{run="run-7",task="humaneval"} 164.0',
        'tritter_eval_perplexity{run="run-7",subset="python"} 3.004',
        'tritter_eval_bits_per_byte{run="run-7",subset="all"} 0.45',
        'tritter_eval_generation_tokens_per_second{run="run-7",task="humaneval"} 950.5',
        'tritter_eval_sandbox_seconds_per_sample{run="run-7",task="humaneval"} 0.031',
        'tritter_eval_duration_seconds{run="run-7",task="perplexity"} 12.5',
        'tritter_eval_identity_ratio{metric="consistency",run="run-7"} 0.5',
        'tritter_eval_identity_ratio{metric="names_persona",run="run-7"} 1.0',
        'tritter_eval_identity_ratio{metric="claims_human",run="run-7"} 0.5',
        'tritter_eval_problems{run="run-7",task="identity"} 34.0',
    ):
        assert line in body.splitlines(), line


def test_no_pushgateway_configured_means_no_push(monkeypatch):
    monkeypatch.delenv("TRITTER_PUSHGATEWAY_URL", raising=False)
    assert push_results(RESULTS, "run-7") is False


def test_unreachable_pushgateway_does_not_fail_the_stage(monkeypatch):
    monkeypatch.setenv("TRITTER_PUSHGATEWAY_URL", "http://127.0.0.1:9")  # discard port: refused
    assert push_results(RESULTS, "run-7") is False
