"""Settings both pipelines give their tasks: resources, retries, caching, the log format, the
S3 Secret, the pods' security context and annotations (image pull Secrets are baked in at
upload, `package.customize`)."""

from typing import Any

from kfp import dsl, kubernetes

from tritter.deploy.params import RunParams
from tritter.deploy.pytorchjob import POD_ANNOTATIONS

SECRET_KEYS = {
    "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
}
DATA_RETRIES = 3
# The pods that run model-generated code (the evaluation steps) carry this label: the chart's
# NetworkPolicy (`networkPolicy.podSelector`) limits their egress to storage, DNS and Kubeflow.
GENERATED_CODE_LABEL = ("tritter.dev/runs-generated-code", "true")


def default(kind: type[RunParams], name: str) -> Any:
    """A pipeline parameter's default, as its model declares it."""
    return kind.model_fields[name].default


def configure(
    task: dsl.PipelineTask,
    s3_secret: str,
    *,
    cpu: str,
    memory: str,
    retries: int = DATA_RETRIES,
    gpus: int = 0,
) -> dsl.PipelineTask:
    task.set_cpu_request(cpu).set_cpu_limit(cpu)
    task.set_memory_request(memory).set_memory_limit(memory)
    if gpus:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(gpus)
    if retries:
        task.set_retry(num_retries=retries, backoff_duration="60s", backoff_factor=2.0)
    task.set_caching_options(enable_caching=False)
    task.set_env_variable("TRITTER_LOG_FORMAT", "json")
    kubernetes.use_secret_as_env(task, s3_secret, SECRET_KEYS, optional=True)
    kubernetes.set_security_context(task, run_as_user=1000, run_as_group=1000, run_as_non_root=True)
    for key, value in POD_ANNOTATIONS.items():
        kubernetes.add_pod_annotation(task, key, value)
    return task


def runs_generated_code(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Label a step that executes model-generated code (see GENERATED_CODE_LABEL)."""
    return kubernetes.add_pod_label(task, *GENERATED_CODE_LABEL)
