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
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tritter import log
from tritter.deploy.pytorchjob import JobSpec, build_model
from tritter.errors import TritterError

if TYPE_CHECKING:
    from kubeflow.training import KubeflowOrgV1PyTorchJob, TrainingClient

_log = log.get_logger("deploy.launch")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster() -> bool:
    """True inside a Kubernetes pod (service-account token mounted and API host set)."""
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").exists()
    )


def choose_launcher(launcher: str) -> str:
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


def _conditions(job: Any) -> list[Any]:
    status = job.status if job is not None else None
    return list(status.conditions or []) if status is not None else []


def run_kubernetes(spec: JobSpec, timeout_seconds: float, poll_seconds: float = 15.0) -> None:
    """Create the PyTorchJob, follow it to Succeeded/Failed, always delete it afterwards."""
    from kubeflow.training import TrainingClient

    namespace = spec.namespace or own_namespace()
    job = build_model(JobSpec(**{**spec.__dict__, "namespace": namespace}))
    try:
        training = TrainingClient(namespace=namespace)
    except Exception as err:  # kubernetes config errors have many types
        raise TritterError(f"cannot reach the Kubernetes API: {err}") from err
    _create_or_follow(training, job, spec, namespace)
    deadline = time.monotonic() + timeout_seconds
    last = None
    try:
        while True:
            job = training.get_job(name=spec.name, namespace=namespace)
            conditions = _conditions(job)
            if conditions and conditions[-1].type != last:
                last = conditions[-1].type
                log.event(
                    _log,
                    "PyTorchJob status",
                    name=spec.name,
                    condition=last,
                    reason=conditions[-1].reason,
                    message=conditions[-1].message,
                )
            kinds = {c.type for c in conditions if c.status == "True"}
            if "Succeeded" in kinds:
                return
            if "Failed" in kinds:
                raise TritterError(
                    f"PyTorchJob {namespace}/{spec.name} failed: {conditions[-1].message}; "
                    f"master log tail: {_log_tail(training, spec.name, namespace)}"
                )
            if time.monotonic() > deadline:
                raise TritterError(
                    f"PyTorchJob {namespace}/{spec.name} did not finish within "
                    f"train_timeout_hours ({timeout_seconds / 3600:g} h)"
                )
            time.sleep(poll_seconds)
    finally:
        try:
            training.delete_job(name=spec.name, namespace=namespace)
            log.event(_log, "PyTorchJob deleted", name=spec.name)
        except RuntimeError as err:
            log.event(_log, "PyTorchJob cleanup failed", name=spec.name, error=str(err))


def _create(training: TrainingClient, job: KubeflowOrgV1PyTorchJob, namespace: str) -> None:
    training.create_job(job=job, namespace=namespace)


def _status(err: Exception) -> int | None:
    """HTTP status behind a TrainingClient error (it wraps the API exception)."""
    return getattr(err, "status", None) or getattr(err.__cause__, "status", None)


def _create_or_follow(
    training: TrainingClient, job: KubeflowOrgV1PyTorchJob, spec: JobSpec, namespace: str
) -> None:
    """Create the job; a retried step that finds its previous attempt's job follows it while it
    runs, and replaces it when it failed (training resumes from the newest checkpoint)."""
    where = f"PyTorchJob {namespace}/{spec.name}"
    try:
        _create(training, job, namespace)
        log.event(_log, "PyTorchJob created", name=spec.name, namespace=namespace, nodes=spec.nodes)
        return
    except Exception as err:
        if _status(err) != 409:
            raise TritterError(f"creating {where} failed: {err}") from err
    existing = training.get_job(name=spec.name, namespace=namespace)
    failed = any(c.type == "Failed" and c.status == "True" for c in _conditions(existing))
    if not failed:
        log.event(_log, "PyTorchJob exists; following it", name=spec.name, namespace=namespace)
        return
    log.event(_log, "replacing the failed PyTorchJob", name=spec.name, namespace=namespace)
    training.delete_job(name=spec.name, namespace=namespace)
    for _ in range(60):  # deletion is asynchronous
        time.sleep(2)
        try:
            _create(training, job, namespace)
            return
        except Exception as err:
            if _status(err) != 409:
                raise TritterError(f"creating {where} failed: {err}") from err
    raise TritterError(f"{where}: the failed job was not deleted within 120 s")


def _log_tail(training: TrainingClient, name: str, namespace: str, lines: int = 20) -> str:
    try:
        logs, _ = training.get_job_logs(name=name, namespace=namespace, is_master=True)
    except Exception as err:  # a missing pod must not hide the job failure itself
        return f"(no log: {err})"
    text = "\n".join(logs.values())
    return " | ".join(text.strip().splitlines()[-lines:])
