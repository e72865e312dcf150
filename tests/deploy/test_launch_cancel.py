"""Stopping a training step stops training: the PyTorchJob is owned by the step's pod and
deleted when the step gets SIGTERM (a terminated KFP run), so no GPU stays busy until
`train_timeout_hours`.

A loopback HTTP server stands in for the Kubernetes API server: the real kubernetes client talks
to it through a kubeconfig, and it records every request. Both launchers: a Training Operator
PyTorchJob and a Kubeflow Trainer v2 TrainJob.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import yaml

from tests.deploy.validation import validate

NAMESPACE = "team-a"
JOB = "tritter-run-train"
POD = "tritter-pretrain-launcher-x7k2p"
POD_UID = "5b0c6a8e-0000-4000-8000-000000000001"
KINDS = {
    "pytorchjob": f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs",
    "trainjob": f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{NAMESPACE}/trainjobs",
}

LAUNCH = f"""
import sys
from tritter.deploy import launch
from tritter.deploy.pytorchjob import JobSpec
from tritter.errors import exit_code

spec = JobSpec(name="{JOB}", image="train:1", data="s3://b/r/tokens", tokenizer="s3://b/r/tok",
               output="s3://b/r/checkpoints", namespace="{NAMESPACE}", nodes=2, gpus_per_node=8)
kind = sys.argv[1]
sys.exit(exit_code(lambda: launch.run_kubernetes(spec, 3600, poll_seconds=0.2, kind=kind)))
"""


class _ApiServer(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, dict]]] = []
    created: ClassVar[dict] = {}
    jobs: ClassVar[str] = KINDS["pytorchjob"]
    condition: ClassVar[str] = "Running"  # what the job reports once created

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, {}))
        if self.path == f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}":
            metadata = {"name": POD, "namespace": NAMESPACE, "uid": POD_UID}
            self._reply(200, {"apiVersion": "v1", "kind": "Pod", "metadata": metadata})
        elif self.path.startswith(f"{self.jobs}/{JOB}") and self.created:
            state = {"type": self.condition, "status": "True", "reason": "r", "message": "ok"}
            self._reply(200, {**self.created, "status": {"conditions": [state]}})
        else:
            self._reply(404, {"kind": "Status", "code": 404, "message": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        self.requests.append(("POST", self.path, body))
        if self.path.startswith(self.jobs):
            type(self).created = body
            self._reply(201, body)
        else:
            self._reply(404, {"kind": "Status", "code": 404})

    def do_DELETE(self) -> None:
        self.requests.append(("DELETE", self.path, self._body()))
        self._reply(200, {"kind": "Status", "status": "Success"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api_server(tmp_path):
    _ApiServer.requests, _ApiServer.created = [], {}
    _ApiServer.jobs, _ApiServer.condition = KINDS["pytorchjob"], "Running"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "loopback",
        "clusters": [{"name": "loopback",
                      "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "step", "user": {"token": "test-token"}}],
        "contexts": [{"name": "loopback", "context": {"cluster": "loopback", "user": "step",
                                                      "namespace": NAMESPACE}}],
    }))  # fmt: skip
    yield kubeconfig, _ApiServer
    server.shutdown()
    server.server_close()


def _launch(kubeconfig, kind: str) -> subprocess.Popen:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOSTNAME": POD}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, kind], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sigterm_deletes_the_job_it_created(api_server, kind):
    kubeconfig, api = api_server
    jobs = api.jobs = KINDS[kind]
    step = _launch(kubeconfig, kind)
    deadline = time.monotonic() + 60
    # Wait until the step follows the job it created (at least one status poll).
    while not any(m == "GET" and p.startswith(f"{jobs}/{JOB}") for m, p, _ in api.requests):
        assert step.poll() is None, step.communicate()
        assert time.monotonic() < deadline, api.requests
        time.sleep(0.1)
    step.send_signal(signal.SIGTERM)
    _, stderr = step.communicate(timeout=60)
    assert step.returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last == "tritter: error: stopped by signal SIGTERM", last
    deletes = [p for m, p, _ in api.requests if m == "DELETE"]
    assert deletes and deletes[0].startswith(f"{jobs}/{JOB}")
    # The job was owned by the step's pod: deleting the pod would have deleted it too.
    (created,) = [b for m, p, b in api.requests if m == "POST" and p.startswith(jobs)]
    (owner,) = created["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "v1", "kind": "Pod", "name": POD, "uid": POD_UID,
                     "blockOwnerDeletion": False}  # fmt: skip
    validate(created)  # what the API server received is valid against the CRD


def test_a_completed_trainjob_ends_the_step_and_is_deleted(api_server):
    kubeconfig, api = api_server
    api.jobs, api.condition = KINDS["trainjob"], "Complete"
    step = _launch(kubeconfig, "trainjob")
    _, stderr = step.communicate(timeout=60)
    assert step.returncode == 0, stderr
    (created,) = [b for m, p, b in api.requests if m == "POST"]
    assert created["kind"] == "TrainJob"
    assert created["spec"]["runtimeRef"]["name"] == "tritter-torch-distributed"
    assert [p for m, p, _ in api.requests if m == "DELETE"]
