"""The training job as a Kubeflow Trainer v2 `TrainJob` (`launcher=trainjob`), the maintained
successor of the Training Operator's PyTorchJob.

The job runs the same container command as the PyTorchJob (`tritter pretrain --nproc N …`,
`tritter sft …`, `tritter dpo …`): the runtime's torch policy sets the `PET_*` variables the
trainer reads to start its ranks. What the TrainJob's `trainer` has no field for — the pods'
security context, volumes (`/tmp`, `/dev/shm`), service account, pull Secrets, node selector,
tolerations and annotations — goes into a runtime patch of the runtime's `node` replicated job,
built from the same pod spec as the PyTorchJob's so the two launchers run identical pods.

A runtime patch cannot declare container ports, a priority class or gang scheduling, so the
job runs on the chart's own namespaced `TrainingRuntime` (`RUNTIME`, rendered by
helm/tritter/templates/trainingruntime.yaml when the chart's launcher is `trainjob`): the
`torch-distributed` shape plus the `metrics` port the PodMonitor scrapes
(`pytorchjob.JobSpec.metrics_port`'s default), the sizing's priority class and, when the
cluster has a gang scheduler, its `podGroupPolicy` (coscheduling or Volcano).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tritter.deploy.pytorchjob import (
    COMPONENT_LABEL,
    TRAIN_COMPONENT,
    JobSpec,
    _check,
    _replica,
)

API_VERSION = "trainer.kubeflow.org/v1alpha1"
GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
RUNTIME = "tritter-torch-distributed"  # the chart's TrainingRuntime, in the run's namespace
RUNTIME_KIND = "TrainingRuntime"
NODE = "node"  # the runtime's replicated job and container
PATCH_MANAGER = "tritter.dev/launcher"


def build_trainjob(
    spec: JobSpec, runtime: str = RUNTIME, runtime_kind: str = RUNTIME_KIND
) -> dict[str, Any]:
    """The TrainJob as the JSON the API server receives (on the chart's runtime by default;
    `runtime_kind="ClusterTrainingRuntime"`, `runtime="torch-distributed"` for the stock one,
    whose pods are then not scraped)."""
    _check(spec)
    labels = {
        "app.kubernetes.io/name": "tritter",
        COMPONENT_LABEL: TRAIN_COMPONENT,
        "tritter.dev/job": spec.name,
        **spec.labels,
    }
    serialize = client.ApiClient().sanitize_for_serialization
    template = serialize(_replica(spec, 1, labels).template)
    pod = template["spec"]
    (container,) = pod.pop("containers")
    patch_pod = {key: pod[key] for key in (
        "securityContext", "volumes", "serviceAccountName", "imagePullSecrets",
        "nodeSelector", "tolerations", "priorityClassName",
    ) if key in pod}  # fmt: skip
    # Not patchable on a TrainJob: the chart's runtime carries the sizing's priority class.
    patch_pod.pop("priorityClassName", None)
    patch_pod["containers"] = [{
        "name": NODE,
        "securityContext": container["securityContext"],
        "volumeMounts": container["volumeMounts"],
    }]  # fmt: skip
    trainer: dict[str, Any] = {
        "image": spec.image,
        "command": container["command"],
        "env": container["env"],
        "numNodes": spec.nodes,
        "numProcPerNode": max(spec.gpus_per_node, 1),
        "resourcesPerNode": container["resources"],
    }
    job: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "TrainJob",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {
            "runtimeRef": {"name": runtime, "kind": runtime_kind, "apiGroup": GROUP},
            "trainer": trainer,
            "runtimePatches": [{
                "manager": PATCH_MANAGER,
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{
                    "name": NODE,
                    "template": {"spec": {"template": {
                        "metadata": template["metadata"], "spec": patch_pod,
                    }}},
                }]}}},
            }],
        },
    }  # fmt: skip
    if spec.namespace:
        job["metadata"]["namespace"] = spec.namespace
    if spec.active_deadline_seconds:
        job["spec"]["activeDeadlineSeconds"] = spec.active_deadline_seconds
    if "envFrom" in container:
        # TrainJob's trainer has no envFrom: the S3 keys come from the Secret key by key.
        secret = container["envFrom"][0]["secretRef"]["name"]
        trainer["env"] = [*trainer["env"], *(
            {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        )]  # fmt: skip
    return job
