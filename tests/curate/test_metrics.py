"""Each curation step pushes its document counters to the Pushgateway named by
TRITTER_PUSHGATEWAY_URL (here a real HTTP server on loopback that records the pushes)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tritter.curate import stage as curate_stage
from tritter.curate.config import CurateConfig

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def pushgateway(monkeypatch):
    received: list[tuple[str, str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):  # prometheus_client.push_to_gateway uses PUT
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            received.append((self.command, self.path, body))
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


def test_steps_push_document_byte_and_shard_counters(pushgateway, tmp_path):
    config = CurateConfig(input=str(SAMPLES / "mit_project"), output=str(tmp_path / "out"),
                          workers=2, shard_mb=0.01)  # fmt: skip
    counts = curate_stage.run(config).to_dict()["counts"]
    paths = sorted(path for _, path, _ in pushgateway)
    shards = counts["shards"]
    assert len([p for p in paths if "/step/curate_process/" in p]) == shards
    assert len([p for p in paths if "/step/curate_apply/" in p]) == shards
    # Grouped by run (the run folder's name: concurrent runs never overwrite each other).
    prefix = "/metrics/job/tritter_curate/run/" + tmp_path.name + "/step/"
    assert all(p.startswith(prefix) for p in paths), paths
    assert any(p.startswith(prefix + "curate_dedup_index/") for p in paths)
    bodies = "\n".join(body for _, _, body in pushgateway)
    assert 'tritter_data_shards_done_total{stage="curate_process"} 1.0' in bodies
    assert 'tritter_data_bytes_total{outcome="input",stage="curate_process"}' in bodies
    # Dropped documents by reason, summed over the pushes, equal the manifest's counts.
    for reason, expected in counts["dropped"].items():
        stage = "curate_apply" if reason.endswith("_duplicate") else "curate_process"
        line = (
            f'tritter_data_documents_total{{outcome="dropped",reason="{reason}",stage="{stage}"}}'
        )
        total = sum(
            float(row.split()[-1]) for row in bodies.splitlines() if row.startswith(line + " ")
        )
        assert total == expected, reason
    kept = sum(
        float(row.split()[-1])
        for row in bodies.splitlines()
        if row.startswith('tritter_data_documents_total{outcome="kept"')
    )
    assert kept == counts["kept_documents"]
