"""What the pods run with. Training pods (the PyTorchJob built by `tritter.deploy.pytorchjob`,
whose pod settings the TrainJob reuses) set every restriction: non-root, read-only root
filesystem, no privilege escalation, every capability dropped, seccomp RuntimeDefault. Pipeline
steps get what kfp-kubernetes 2.17 can express — the identity fields only; the test pins that
limit so a kfp-kubernetes that adds fields makes it fail (then set them in pipelines/tasks.py and
the README)."""

from __future__ import annotations

import yaml
from kfp.kubernetes import kubernetes_executor_config_pb2 as kfp_kubernetes

from tritter.deploy.pytorchjob import USER_ID, JobSpec, build_job
from tritter.pipelines.package import committed_package


def test_training_pods_set_every_restriction():
    spec = JobSpec(name="tritter-t", image="img", data="s3://b/tokens", tokenizer="s3://b/tok",
                   output="s3://b/checkpoints", nodes=2)  # fmt: skip
    replicas = build_job(spec)["spec"]["pytorchReplicaSpecs"]
    assert set(replicas) == {"Master", "Worker"}
    for replica in replicas.values():
        pod = replica["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == USER_ID
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in pod["containers"][0]["volumeMounts"]


def test_pipeline_steps_set_all_kfp_kubernetes_can_express():
    fields = {f.name for f in kfp_kubernetes.KubernetesExecutorConfig.DESCRIPTOR.fields_by_name[
        "security_context"].message_type.fields}  # fmt: skip
    assert fields == {"run_as_user", "run_as_group", "run_as_non_root"}
    for kind in ("pretrain", "posttrain"):
        documents = list(yaml.safe_load_all(committed_package(kind).read_text()))
        executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        assert executors
        for name, executor in executors.items():
            assert executor["securityContext"] == {
                "runAsGroup": str(USER_ID), "runAsNonRoot": True, "runAsUser": str(USER_ID),
            }, name  # fmt: skip
