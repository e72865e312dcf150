"""A CPU-only or small cluster: the chart's `pipeline.sizing` reaches every step's pod (baked in
at upload) and every training pod (parameter defaults the training step reads)."""

from __future__ import annotations

import json

import helm_python
import pytest
import yaml

from tests.deploy.test_helm import by_kind, render
from tests.deploy.validation import validate
from tritter.deploy import sizing as sizing_module
from tritter.deploy.params import PipelineParams, check_params
from tritter.deploy.pytorchjob import build_job
from tritter.errors import TritterError
from tritter.jobs import pretrain as pretrain_job
from tritter.pipelines import package

CPU_CLUSTER = {
    "pipeline": {
        "sizing": {
            "profile": "cpu",
            "steps": {"pack-shard": {"cpu": "1", "memory": "3Gi"}},
            "node_selector": {"pool": "batch"},
            "tolerations": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
            "priority_class": "research-low",
            "train_cpu": "6",
            "train_memory": "24Gi",
            "gang_scheduling": True,
            "scheduling_queue": "research",
        }
    }
}


def sizing_from_chart(values: dict) -> sizing_module.Sizing:
    """The sizing file the upload hook reads, as the chart renders it."""
    objects = render(values)
    (config_map,) = [
        c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-pipeline")
    ]
    (job,) = by_kind(objects, "Job")
    for container in (*job["spec"]["template"]["spec"]["initContainers"],
                      *job["spec"]["template"]["spec"]["containers"]):  # fmt: skip
        assert "--sizing=/pipeline/sizing.yaml" in container["args"]
    return sizing_module.Sizing.model_validate(yaml.safe_load(config_map["data"]["sizing.yaml"]))


def test_cpu_profile_reaches_every_step_and_the_training_pods():
    sizing = sizing_from_chart(CPU_CLUSTER)
    text = package.customize(package.committed_package("pretrain").read_text(), sizing=sizing)
    spec, platform = yaml.safe_load_all(text)
    executors = spec["deploymentSpec"]["executors"]
    assert not [
        name for name, e in executors.items() if "accelerator" in e["container"]["resources"]
    ]
    evaluate = executors["exec-evaluate"]["container"]["resources"]
    assert evaluate["resourceCpuLimit"] == "4" and evaluate["resourceMemoryLimit"] == "16Gi"
    assert evaluate["memoryLimit"] == pytest.approx(16 * 2**30 / 1e9)
    shard = executors["exec-pack-shard"]["container"]["resources"]
    assert shard["cpuRequest"] == 1.0 and shard["resourceMemoryRequest"] == "3Gi"
    pods = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name in executors:
        assert pods[name]["nodeSelector"] == {"labels": {"pool": "batch"}}, name
        assert pods[name]["tolerations"] == [
            {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
        ]
    # The training step builds its PyTorchJob from the parameters' (new) defaults.
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    defaults = {name: p.get("defaultValue") for name, p in parameters.items()}
    params = PipelineParams.model_validate({**defaults, "run_root": "s3://b/runs/x",
                                            "source": "s3://b/src"})  # fmt: skip
    assert params.gpus_per_node == 0
    job = build_job(pretrain_job.train_job_spec(params, "/d/t", "/d/tok", "kubernetes"))
    validate(job)
    pod = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"] == {"cpu": "6", "memory": "24Gi"}
    assert pod["nodeSelector"] == {"pool": "batch"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "ml",
                                   "effect": "NoSchedule"}]  # fmt: skip
    assert pod["priorityClassName"] == "research-low"
    # All of a job's pods or none (a gang scheduler behind the operator), in the team's queue.
    policy = job["spec"]["runPolicy"]["schedulingPolicy"]
    assert policy == {"minAvailable": params.nodes, "queue": "research"}


def test_gpu_profile_keeps_the_compiled_requests():
    sizing = sizing_from_chart({})
    committed = package.committed_package("posttrain").read_text()
    spec, _ = yaml.safe_load_all(package.customize(committed, sizing=sizing))
    original, _ = yaml.safe_load_all(committed)
    assert spec["deploymentSpec"] == original["deploymentSpec"]
    evaluate = spec["deploymentSpec"]["executors"]["exec-evaluate-sft"]["container"]
    assert evaluate["resources"]["accelerator"]["count"] == "1"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"pipeline": {"sizing": {"profile": "tpu"}}}, "/pipeline/sizing/profile"),
        ({"pipeline": {"sizing": {"steps": {"evaluate": {"cpu": "4"}}}}},
         "/pipeline/sizing/steps/evaluate"),
        ({"pipeline": {"sizing": {"gpus": 1}}}, "/pipeline/sizing"),
    ],
)  # fmt: skip
def test_invalid_sizing_values_name_the_key(values, key):
    with pytest.raises(helm_python.HelmError) as err:
        render(values)
    assert key in str(err.value)


def test_bad_sizing_is_one_line_naming_the_field(tmp_path):
    path = tmp_path / "sizing.yaml"
    path.write_text(yaml.safe_dump({"steps": {"evaluate": {"cpu": "four", "memory": "1Gi"}}}))
    with pytest.raises(
        TritterError, match=r"sizing.yaml: invalid config field 'steps.evaluate.cpu'"
    ):
        sizing_module.load(path)
    path.write_text(yaml.safe_dump({"steps": {"evaluat": {"cpu": "4", "memory": "1Gi"}}}))
    text = package.committed_package("pretrain").read_text()
    with pytest.raises(TritterError, match="no step 'evaluat' in this pipeline"):
        package.customize(text, sizing=sizing_module.load(path))
    with pytest.raises(TritterError, match="pipeline parameter 'node_selector'"):
        check_params(PipelineParams, {"run_root": "s3://b/r", "node_selector": json.dumps([1])})
