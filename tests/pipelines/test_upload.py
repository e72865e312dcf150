"""`tritter pipeline upload`: clear one-line errors when Kubeflow Pipelines cannot be used."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from tests.conftest import run_tritter
from tests.support.seaweed import free_port
from tritter.errors import TritterError
from tritter.pipelines import package


def test_unreachable_host_is_one_line_error():
    host = f"http://127.0.0.1:{free_port()}"
    result = run_tritter("pipeline", "upload", "--host", host, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tritter: error: Kubeflow Pipelines at {host}:"), last
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # three CLI runs that each import kfp
def test_missing_package_and_bad_default_are_named(tmp_path):
    result = run_tritter("pipeline", "upload", "--host", "http://127.0.0.1:9",
                         "--package", str(tmp_path / "none.yaml"))  # fmt: skip
    assert result.returncode == 1 and "none.yaml: pipeline package not found" in result.stderr
    result = run_tritter("pipeline", "upload", "--host", "http://127.0.0.1:9", "--set", "nodes=0")
    assert result.returncode == 1 and "pipeline parameter 'nodes'" in result.stderr
    result = run_tritter("pipeline", "compile", "--output", str(tmp_path / "p.yaml"),
                         "--set", "gpus=8")  # fmt: skip
    assert result.returncode == 1 and "unknown pipeline parameter 'gpus'" in result.stderr


@pytest.mark.slow  # two CLI runs that each import kfp
def test_posttrain_upload_errors_are_one_line(tmp_path):
    host = f"http://127.0.0.1:{free_port()}"
    result = run_tritter("pipeline", "upload", "--host", host, "--pipeline", "posttrain",
                         "--set", "base=s3://b/runs/x/checkpoints", timeout=120)  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tritter: error: Kubeflow Pipelines at {host}:"), last
    assert "Traceback" not in result.stderr
    result = run_tritter("pipeline", "upload", "--host", host, "--pipeline", "posttrain",
                         "--set", "vocab_size=4096")  # fmt: skip
    assert result.returncode == 1
    assert "unknown pipeline parameter 'vocab_size'" in result.stderr.strip().splitlines()[-1]


class _KfpApi(BaseHTTPRequestHandler):
    """A loopback stand-in for the KFP v2beta1 API: records every request, knows no pipeline
    until one is uploaded."""

    seen: ClassVar[list[tuple[str, str, dict]]] = []
    uploaded: ClassVar[list[str]] = []

    def _reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, method: str) -> tuple[str, dict]:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.seen.append((method, url.path, query))
        return url.path, query

    def do_GET(self) -> None:
        path, _ = self._record("GET")
        if path == "/apis/v2beta1/pipelines" and self.uploaded:
            self._reply({"pipelines": [{"pipeline_id": "p1", "display_name": self.uploaded[0]}]})
        else:
            self._reply({})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path, query = self._record("POST")
        if path == "/apis/v2beta1/pipelines/upload":
            self.uploaded.append(query["name"])
        self._reply({"pipeline_id": "p1", "pipeline_version_id": "v1", "display_name": "x"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def kfp_api():
    _KfpApi.seen, _KfpApi.uploaded = [], []
    server = HTTPServer(("127.0.0.1", 0), _KfpApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _KfpApi
    server.shutdown()
    server.server_close()


def test_upload_into_a_profile_namespace(kfp_api, tmp_path):
    """Multi-user Kubeflow: the pipeline is looked up and created in the profile's namespace,
    not shared with every namespace; a changed package becomes a new version."""
    host, api = kfp_api
    first = package.upload(package.committed_package("posttrain"), host, namespace="team-a")
    assert first["action"] == "created"
    lookups = [q for m, p, q in api.seen if m == "GET" and p == "/apis/v2beta1/pipelines"]
    assert lookups and all(q["namespace"] == "team-a" for q in lookups)
    assert "tritter-posttrain" in lookups[0]["filter"]
    (created,) = [q for m, p, q in api.seen if p == "/apis/v2beta1/pipelines/upload"]
    assert created["name"] == "tritter-posttrain" and created["namespace"] == "team-a"
    custom = tmp_path / "p.yaml"
    custom.write_text(package.customize(package.committed_package("posttrain").read_text(),
                                        pull_secrets=["regcred"]))  # fmt: skip
    second = package.upload(custom, host, namespace="team-a")
    assert second["action"] == "new version"
    assert any(p == "/apis/v2beta1/pipelines/upload_version" for _, p, _ in api.seen)


def test_pull_secrets_reach_every_step_and_the_training_pods():
    text = package.customize(package.committed_package("pretrain").read_text(),
                             pull_secrets=["regcred", "mirror"])  # fmt: skip
    spec, platform = yaml.safe_load_all(text)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == set(spec["deploymentSpec"]["executors"])
    for name, executor in executors.items():
        assert [s["secretName"] for s in executor["imagePullSecret"]] == ["regcred", "mirror"]
        assert executor["podMetadata"]["annotations"]["sidecar.istio.io/inject"] == "false", name
    default = spec["root"]["inputDefinitions"]["parameters"]["image_pull_secrets"]
    assert default["defaultValue"] == "regcred,mirror"
    with pytest.raises(TritterError, match="image pull Secret 'Bad_Name'"):
        package.customize(text, pull_secrets=["Bad_Name"])
