"""Start a training job and wait for it: a PyTorchJob in a cluster, the trainer locally.

In a cluster a training step (pretrain, mid, sft) creates the PyTorchJob built by
`pytorchjob.build_job`, logs each status change, fails when the job fails (with the tail of the
master's log), gives up at the step's timeout, and deletes the job however the wait ends.
Without a cluster (no in-cluster service account, or `launcher=local`) it runs the job's command
(`tritter pretrain --nproc N`, `tritter sft --phase P ...`) as a child process, so `tritter run`
trains with exactly the command the pods run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritter import log
from tritter.deploy import trainjob
from tritter.deploy.pytorchjob import JobSpec, build_job
from tritter.errors import TritterError

_log = log.get_logger("deploy.launch")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster() -> bool:
    """True inside a Kubernetes pod (service-account token mounted and API host set)."""
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").exists()
    )


def choose_launcher(launcher: str) -> str:
    """`kubernetes` (a PyTorchJob), `trainjob` (a Trainer v2 TrainJob) or `local`."""
    if launcher == "auto":
        return "kubernetes" if in_cluster() else "local"
    return launcher


def own_namespace() -> str:
    path = SERVICE_ACCOUNT_DIR / "namespace"
    return path.read_text().strip() if path.exists() else "default"


def run_local(spec: JobSpec, timeout_seconds: float) -> None:
    """The job's command in a child process with this interpreter; raises on failure."""
    command = [sys.executable, "-m", "tritter.cli", *spec.command()[1:]]
    trainer = " ".join(spec.command()[:2])  # `tritter pretrain`, `tritter sft`
    env = {**os.environ, **spec.extra_env}
    if spec.s3_endpoint:
        env["AWS_ENDPOINT_URL_S3"] = spec.s3_endpoint
    log.event(_log, "starting local training", command=" ".join(command))
    try:
        result = subprocess.run(command, env=env, timeout=timeout_seconds, check=False)
    except subprocess.TimeoutExpired as err:
        raise TritterError(
            f"training did not finish within train_timeout_hours ({timeout_seconds / 3600:g} h)"
        ) from err
    if result.returncode != 0:
        raise TritterError(f"{trainer} exited with status {result.returncode}")


class Terminated(TritterError):
    """The step was asked to stop (SIGTERM: a terminated KFP run, a deleted pod)."""


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


@dataclass(frozen=True)
class JobKind:
    """A training-job custom resource: where it lives and what its conditions mean."""

    name: str
    group: str
    version: str
    plural: str
    succeeded: str  # the condition type of a job that finished well


PYTORCHJOB = JobKind("PyTorchJob", "kubeflow.org", "v1", "pytorchjobs", "Succeeded")
TRAINJOB = JobKind("TrainJob", trainjob.GROUP, trainjob.VERSION, trainjob.PLURAL, "Complete")


class _Api:
    """The few Kubernetes calls a launch makes, for one job kind in one namespace."""

    def __init__(self, kind: JobKind, namespace: str) -> None:
        from kubernetes import client, config

        try:
            if in_cluster():
                config.load_incluster_config()
            else:
                config.load_kube_config()
        except Exception as err:  # kubernetes config errors have many types
            raise TritterError(f"cannot reach the Kubernetes API: {err}") from err
        self.kind, self.namespace = kind, namespace
        self.custom = client.CustomObjectsApi()
        self.core = client.CoreV1Api()

    def _where(self) -> tuple[str, str, str, str]:
        return self.kind.group, self.kind.version, self.namespace, self.kind.plural

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(*self._where(), body)

    def get(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(*self._where(), name)

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(*self._where(), name)

    def patch(self, name: str, body: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(*self._where(), name, body)

    def launcher_pod(self) -> Any | None:
        """This step's own pod (its name is the pod's hostname), to own the job: deleting the
        pod — KFP does when a run is terminated — then deletes the job and its GPU pods too.
        None outside a pod or without read access to it (the SIGTERM handler still cleans
        up)."""
        name = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME")
        if not name:
            return None
        try:
            return self.core.read_namespaced_pod(name, self.namespace)
        except Exception as err:  # not a pod, no RBAC: the owner reference is a safeguard
            log.event(_log, "no owner reference for the job", pod=name, error=str(err)[:200])
            return None

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The last lines of the job's first pod (the master, or node 0)."""
        try:
            pods = self.core.list_namespaced_pod(
                self.namespace, label_selector=f"tritter.dev/job={name}"
            ).items
            first = sorted(pods, key=lambda p: p.metadata.name)[0]
            text = self.core.read_namespaced_pod_log(
                first.metadata.name, self.namespace, tail_lines=lines
            )
        except Exception as err:  # a missing pod must not hide the job failure itself
            return f"(no log: {err})"
        return " | ".join(str(text).strip().splitlines()[-lines:])


def _owner_reference(pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod.metadata.name,
        "uid": pod.metadata.uid,
        "blockOwnerDeletion": False,
    }


def _conditions(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list((job.get("status") or {}).get("conditions") or [])


def run_kubernetes(
    spec: JobSpec, timeout_seconds: float, poll_seconds: float = 15.0, kind: str = "pytorchjob"
) -> None:
    """Create the job (a PyTorchJob, or a Trainer v2 TrainJob with `kind="trainjob"`), follow it
    to success or failure, always delete it afterwards — also when the step is stopped: SIGTERM
    raises `Terminated` here so the cleanup runs, and the job is owned by this step's pod so
    deleting the pod deletes the job."""
    namespace = spec.namespace or own_namespace()
    spec = JobSpec(**{**spec.__dict__, "namespace": namespace})
    job_kind = TRAINJOB if kind == "trainjob" else PYTORCHJOB
    body = trainjob.build_trainjob(spec) if kind == "trainjob" else build_job(spec)
    api = _Api(job_kind, namespace)
    pod = api.launcher_pod()
    if pod is not None:
        body["metadata"]["ownerReferences"] = [_owner_reference(pod)]
    # Signal handlers can only be set from the main thread (a KFP step's body runs there).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main else None
    try:
        _create_or_follow(api, body, spec, pod)
        _follow(api, spec, timeout_seconds, poll_seconds)
    finally:
        try:
            api.delete(spec.name)
            log.event(_log, f"{job_kind.name} deleted", name=spec.name)
        except Exception as err:  # the job may be gone already; never hide the first error
            log.event(_log, f"{job_kind.name} cleanup failed", name=spec.name,
                      error=str(err)[:300])  # fmt: skip
        if main:
            signal.signal(signal.SIGTERM, previous)


def _follow(api: _Api, spec: JobSpec, timeout_seconds: float, poll_seconds: float) -> None:
    where = f"{api.kind.name} {api.namespace}/{spec.name}"
    deadline = time.monotonic() + timeout_seconds
    last = None
    while True:
        conditions = _conditions(api.get(spec.name))
        if conditions and conditions[-1].get("type") != last:
            last = conditions[-1].get("type")
            log.event(_log, f"{api.kind.name} status", name=spec.name, condition=last,
                      reason=conditions[-1].get("reason"),
                      message=conditions[-1].get("message"))  # fmt: skip
        kinds = {c.get("type") for c in conditions if c.get("status") == "True"}
        if api.kind.succeeded in kinds:
            return
        if "Failed" in kinds:
            raise TritterError(
                f"{where} failed: {conditions[-1].get('message')}; "
                f"first pod's log tail: {api.log_tail(spec.name)}"
            )
        if time.monotonic() > deadline:
            raise TritterError(
                f"{where} did not finish within train_timeout_hours ({timeout_seconds / 3600:g} h)"
            )
        time.sleep(poll_seconds)


def _status(err: Exception) -> int | None:
    """HTTP status behind an API error."""
    return getattr(err, "status", None) or getattr(err.__cause__, "status", None)


def _create_or_follow(api: _Api, body: dict[str, Any], spec: JobSpec, pod: Any | None) -> None:
    """Create the job; a retried step that finds its previous attempt's job follows it while it
    runs (taking it over from the previous attempt's pod), and replaces it when it failed
    (training resumes from the newest checkpoint)."""
    where = f"{api.kind.name} {api.namespace}/{spec.name}"
    try:
        api.create(body)
        log.event(_log, f"{api.kind.name} created", name=spec.name, namespace=api.namespace,
                  nodes=spec.nodes)  # fmt: skip
        return
    except Exception as err:
        if _status(err) != 409:
            raise TritterError(f"creating {where} failed: {err}") from err
    existing = api.get(spec.name)
    failed = any(
        c.get("type") == "Failed" and c.get("status") == "True" for c in _conditions(existing)
    )
    if not failed:
        log.event(_log, f"{api.kind.name} exists; following it", name=spec.name)
        if pod is not None:  # else the previous attempt's pod, once collected, takes it along
            api.patch(spec.name, {"metadata": {"ownerReferences": [_owner_reference(pod)]}})
        return
    log.event(_log, f"replacing the failed {api.kind.name}", name=spec.name)
    api.delete(spec.name)
    for _ in range(60):  # deletion is asynchronous
        time.sleep(2)
        try:
            api.create(body)
            return
        except Exception as err:
            if _status(err) != 409:
                raise TritterError(f"creating {where} failed: {err}") from err
    raise TritterError(f"{where}: the failed job was not deleted within 120 s")
