"""Build a training PyTorchJob (Kubeflow Training Operator v1) as a plain object.

`build_job(spec)` is a pure function of `JobSpec`: no cluster, no environment. The pretrain,
mid and sft steps hand its result to `tritter.deploy.launch`, the tests validate it against the
CRD schema, and `k8s/` holds an example rendered from it.

Layout: one Master and `nodes - 1` Workers, each running the trainer with `--nproc N` in a
container named `pytorch` (the operator finds it by that name and injects MASTER_ADDR,
PET_NNODES, PET_NODE_RANK, …, which the trainer reads): `tritter pretrain ...` for pretraining,
`tritter sft --phase mid|sft --init ...`, `tritter dpo ...` and `tritter rl ...` for
post-training. Every phase's pods carry the same component label and a port named `metrics`,
so the chart's PodMonitor scrapes them all (the trainer labels its series with the phase).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from kubeflow.training import models
from kubernetes import client

from tritter.errors import TritterError

CONTAINER = "pytorch"  # the operator requires this container name
USER_ID = 1000  # the images' non-root user
COMPONENT_LABEL = "app.kubernetes.io/component"
TRAIN_COMPONENT = "pretrain"  # every training pod's, whatever its phase (the PodMonitor's)
POD_ANNOTATIONS = {"sidecar.istio.io/inject": "false"}
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class JobSpec:
    """Everything the training job depends on (plain values, so it is easy to test)."""

    name: str
    image: str
    # pretrain: the token shards; mid/sft/dpo: the sources, NAME=URI,...; rl: the prompt rows
    data: str
    tokenizer: str
    output: str
    model: str | None = None  # a preset; None: the trainer's (post-training: the init's shape)
    phase: Literal["pretrain", "mid", "sft", "dpo", "rl"] = "pretrain"
    init: str | None = None  # the weights to start from (`--init`; required after pretraining)
    beta: float | None = None  # DPO only (`--beta`); None: its default
    reward: str | None = None  # RL only (`--reward`)
    samples_per_prompt: int | None = None  # RL only (`--samples-per-prompt`); None: its default
    lr: float | None = None  # peak learning rate (`--optim.lr`); None: the phase's default
    nodes: int = 1
    gpus_per_node: int = 8
    max_steps: int | None = 1000  # None: the trainer decides (post-training: one epoch)
    checkpoint_every: int = 500
    seq_len: int = 2048
    micro_batch_size: int = 8
    global_batch_tokens: int = 0  # 0: the trainer's default (one micro batch per rank)
    seed: int = 0
    metrics_port: int = 9400
    namespace: str | None = None
    s3_secret: str | None = "tritter-s3"
    s3_endpoint: str = ""
    cpu: str = "16"
    memory: str = "200Gi"
    shm_size: str = "16Gi"
    backoff_limit: int = 3
    ttl_seconds_after_finished: int = 3600
    active_deadline_seconds: int | None = None
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()  # Secrets for a private registry
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()  # beyond the GPU taint's
    priority_class: str | None = None
    gang_scheduling: bool = False  # all pods at once (the operator's gang scheduler)
    scheduling_queue: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    def command(self) -> list[str]:
        """The container command: the same `tritter pretrain` (`tritter sft --phase P`,
        `tritter dpo`, `tritter rl`) a user runs locally."""
        trainer = {"pretrain": ["pretrain"], "dpo": ["dpo"], "rl": ["rl"]}.get(
            self.phase, ["sft", "--phase", self.phase]
        )
        command = [
            "tritter",
            *trainer,
            "--prompts" if self.phase == "rl" else "--data", self.data,
            "--tokenizer", self.tokenizer,
            "--output", self.output,
            *(["--init", self.init] if self.init else []),
            *(["--model", self.model] if self.model else []),
            "--nproc", str(max(self.gpus_per_node, 1)),
            *(["--max-steps", str(self.max_steps)] if self.max_steps is not None else []),
            "--checkpoint.every", str(self.checkpoint_every),
            "--seq-len", str(self.seq_len),
            "--micro-batch-size", str(self.micro_batch_size),
            "--metrics-port", str(self.metrics_port),
            "--seed", str(self.seed),
        ]  # fmt: skip
        if self.global_batch_tokens:
            command += ["--global-batch-tokens", str(self.global_batch_tokens)]
        if self.lr is not None:
            command += ["--optim.lr", repr(self.lr)]
        if self.beta is not None:
            command += ["--beta", repr(self.beta)]
        if self.reward is not None:
            command += ["--reward", self.reward]
        if self.samples_per_prompt is not None:
            command += ["--samples-per-prompt", str(self.samples_per_prompt)]
        return command


def job_name(run_root: str, suffix: str = "") -> str:
    """A valid, stable object name for a run: `tritter-<last path parts>[-suffix]`."""
    words = re.sub(r"[^a-z0-9]+", "-", run_root.lower().split("://")[-1]).strip("-")
    base = f"tritter-{words}"[: 52 - len(suffix)].rstrip("-")
    return f"{base}-{suffix}".rstrip("-") if suffix else base


def _check(spec: JobSpec) -> None:
    if not NAME_RE.match(spec.name):
        raise TritterError(f"PyTorchJob name '{spec.name}': must be a DNS label (a-z, 0-9, -)")
    if spec.nodes < 1:
        raise TritterError(f"PyTorchJob nodes: must be at least 1 (got {spec.nodes})")
    if spec.gpus_per_node < 0:
        raise TritterError(f"PyTorchJob gpus_per_node: must be >= 0 (got {spec.gpus_per_node})")
    if not 1 <= spec.metrics_port <= 65535:
        raise TritterError(f"PyTorchJob metrics_port: out of range (got {spec.metrics_port})")
    if spec.phase != "pretrain" and not spec.init:
        raise TritterError(f"PyTorchJob init: the {spec.phase} phase starts from --init weights")


def _container(spec: JobSpec) -> client.V1Container:
    limits = {"cpu": spec.cpu, "memory": spec.memory}
    if spec.gpus_per_node:
        limits["nvidia.com/gpu"] = str(spec.gpus_per_node)
    env = {
        "TRITTER_LOG_FORMAT": "json",
        # Writable caches on the emptyDir at /tmp: the root filesystem is read-only.
        "HOME": "/tmp",
        "TRITON_CACHE_DIR": "/tmp/triton",
        "TORCHINDUCTOR_CACHE_DIR": "/tmp/inductor",
        **({"AWS_ENDPOINT_URL_S3": spec.s3_endpoint} if spec.s3_endpoint else {}),
        **spec.extra_env,
    }
    return client.V1Container(
        name=CONTAINER,
        image=spec.image,
        image_pull_policy="IfNotPresent",
        command=spec.command(),
        env=[client.V1EnvVar(name=k, value=v) for k, v in sorted(env.items())],
        env_from=(
            [client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name=spec.s3_secret))]
            if spec.s3_secret
            else None
        ),
        ports=[
            client.V1ContainerPort(name="metrics", container_port=spec.metrics_port),
        ],
        resources=client.V1ResourceRequirements(limits=limits, requests=dict(limits)),
        security_context=client.V1SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=client.V1Capabilities(drop=["ALL"]),
        ),
        volume_mounts=[
            client.V1VolumeMount(name="tmp", mount_path="/tmp"),
            # NCCL and DataLoader workers share memory through /dev/shm (64 MiB by default).
            client.V1VolumeMount(name="shm", mount_path="/dev/shm"),
        ],
    )


def _tolerations(spec: JobSpec) -> list[client.V1Toleration] | None:
    """GPU nodes are usually tainted `nvidia.com/gpu`; plus the cluster's own."""
    tolerations = [
        client.V1Toleration(**{k: v for k, v in t.items() if v}) for t in spec.tolerations
    ]
    if spec.gpus_per_node:
        tolerations.insert(
            0, client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
        )
    return tolerations or None


def _replica(
    spec: JobSpec, replicas: int, labels: dict[str, str]
) -> models.KubeflowOrgV1ReplicaSpec:
    pod = client.V1PodSpec(
        containers=[_container(spec)],
        service_account_name=spec.service_account,
        image_pull_secrets=[client.V1LocalObjectReference(name=n) for n in spec.image_pull_secrets]
        or None,
        security_context=client.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=USER_ID,
            run_as_group=USER_ID,
            fs_group=USER_ID,
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
        ),
        volumes=[
            client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource()),
            client.V1Volume(
                name="shm",
                empty_dir=client.V1EmptyDirVolumeSource(medium="Memory", size_limit=spec.shm_size),
            ),
        ],
        tolerations=_tolerations(spec),
        node_selector=spec.node_selector or None,
        priority_class_name=spec.priority_class,
    )
    return models.KubeflowOrgV1ReplicaSpec(
        replicas=replicas,
        restart_policy="OnFailure",
        template=client.V1PodTemplateSpec(
            # In multi-user Kubeflow the profile namespaces inject Istio sidecars; a sidecar
            # keeps a finished pod running (the job never completes) and can block rendezvous.
            metadata=client.V1ObjectMeta(labels=labels, annotations=dict(POD_ANNOTATIONS)),
            spec=pod,
        ),
    )


def build_model(spec: JobSpec) -> models.KubeflowOrgV1PyTorchJob:
    """The PyTorchJob as the kubeflow-training SDK model (what `TrainingClient.create_job`
    takes)."""
    _check(spec)
    labels = {
        "app.kubernetes.io/name": "tritter",
        COMPONENT_LABEL: TRAIN_COMPONENT,
        "tritter.dev/job": spec.name,
        **spec.labels,
    }
    replica_specs = {"Master": _replica(spec, 1, labels)}
    if spec.nodes > 1:
        replica_specs["Worker"] = _replica(spec, spec.nodes - 1, labels)
    return models.KubeflowOrgV1PyTorchJob(
        api_version="kubeflow.org/v1",
        kind="PyTorchJob",
        metadata=client.V1ObjectMeta(name=spec.name, namespace=spec.namespace, labels=labels),
        spec=models.KubeflowOrgV1PyTorchJobSpec(
            nproc_per_node=str(max(spec.gpus_per_node, 1)),
            pytorch_replica_specs=replica_specs,
            run_policy=models.KubeflowOrgV1RunPolicy(
                backoff_limit=spec.backoff_limit,
                ttl_seconds_after_finished=spec.ttl_seconds_after_finished,
                active_deadline_seconds=spec.active_deadline_seconds,
                clean_pod_policy="Running",
                scheduling_policy=(
                    models.KubeflowOrgV1SchedulingPolicy(
                        min_available=spec.nodes, queue=spec.scheduling_queue or None
                    )
                    if spec.gang_scheduling
                    else None
                ),
            ),
        ),
    )


def build_job(spec: JobSpec) -> dict[str, Any]:
    """The PyTorchJob as a JSON-ready dict (what the API server receives)."""
    return client.ApiClient().sanitize_for_serialization(build_model(spec))
