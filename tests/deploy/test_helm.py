"""The Helm chart: strict lint, renders (defaults and the multi-node GPU example) that validate
object by object, schema errors that name the key, least-privilege RBAC, dashboards."""

from __future__ import annotations

import json
from pathlib import Path

import helm_python
import pytest
import yaml

from tests.deploy.validation import validate
from tritter.deploy import dashboards, trainjob
from tritter.deploy.pytorchjob import JobSpec
from tritter.pipelines import chart, package

CHART = chart.CHART
GPU_VALUES = yaml.safe_load((CHART.parent / "examples" / "multinode-gpu.yaml").read_text())


def render(values: dict | None = None) -> list[dict]:
    return chart.render_chart(values, namespace="ml")


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def test_lint_strict_is_clean():
    result = helm_python.lint(str(CHART), strict=True)
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []


@pytest.mark.parametrize("values", [None, GPU_VALUES], ids=["defaults", "multinode-gpu"])
def test_every_rendered_object_validates(values):
    objects = render(values)
    kinds = {o["kind"] for o in objects}
    assert {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job", "PodMonitor"} <= kinds
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    for obj in objects:
        validate(obj)
    if values is GPU_VALUES:
        assert "ServiceMonitor" in kinds


def test_generated_files_are_up_to_date():
    assert chart.main(["--check"]) == 0, "run `python -m tritter.pipelines.chart`"


@pytest.mark.parametrize(
    ("launcher", "group", "jobs"),
    [("auto", "kubeflow.org", "pytorchjobs"), ("trainjob", "trainer.kubeflow.org", "trainjobs")],
)
def test_role_is_least_privilege(launcher, group, jobs):
    (role,) = by_kind(render({"pipeline": {"defaults": {"launcher": launcher}}}), "Role")
    assert role["metadata"]["namespace"] == "ml"
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in role["rules"]}
    assert rules == {
        ((group,), (jobs,)): {"create", "get", "list", "watch", "patch", "delete"},
        ((group,), (f"{jobs}/status",)): {"get"},
        (("",), ("pods",)): {"get", "list", "watch"},
        (("",), ("pods/log",)): {"get"},
    }
    (binding,) = by_kind(render(), "RoleBinding")
    names = {s["name"] for s in binding["subjects"]}
    assert names == {"tritter", "pipeline-runner", "default-editor"}


def test_upload_hook_ships_the_compiled_pipeline_with_the_values_defaults():
    objects = render(GPU_VALUES)
    (job,) = by_kind(objects, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == "registry.example.com/ml/tritter-data:0.1.0"
    assert container["command"] == ["tritter", "pipeline", "upload"]
    args = container["args"]
    assert "--registry=registry.example.com/ml" in args
    assert "--namespace=kubeflow-user-example-com" in args
    sets = dict(a.removeprefix("--set=").split("=", 1) for a in args if a.startswith("--set="))
    assert sets["nodes"] == "4" and sets["gpus_per_node"] == "8"
    assert sets["run_root"] == "s3://tritter/runs/default"
    assert sets["s3_secret"] == "tritter-s3"
    assert sets["train_image"] == "registry.example.com/ml/tritter-train:0.1.0"
    assert sets["pushgateway_url"].startswith("http://prometheus-pushgateway")
    # Every --set is a real pipeline parameter with a valid value.
    text = package.committed_package().read_text()
    package.customize(text, "registry.example.com/ml", sets)
    (config_map,) = [
        c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-pipeline")
    ]
    assert config_map["data"]["tritter_pretrain.yaml"] == text.rstrip("\n")


def test_pod_monitor_scrapes_the_training_pods_metrics_port():
    (monitor,) = by_kind(render(GPU_VALUES), "PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "pretrain"
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_dashboards_are_labelled_config_maps_with_the_required_panels():
    boards = [c for c in by_kind(render(), "ConfigMap") if "dashboard" in c["metadata"]["name"]]
    assert len(boards) == 2
    titles = set()
    for config_map in boards:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        (text,) = config_map["data"].values()
        titles |= {p["title"] for p in json.loads(text)["panels"]}
    for needed in ("Loss", "Tokens per second", "MFU", "Gradient norm", "Learning rate",
                   "Step time", "Data wait", "Checkpoint save time",
                   "GPU memory (allocated, reserved)", "Documents dropped by reason",
                   "Documents kept", "Shards done"):  # fmt: skip
        assert needed in titles
    assert any(t.startswith("Dedup ratio") for t in titles)
    assert len(dashboards.queries(json.loads(dashboards.dashboards()["training.json"]))) >= 9


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"pipeline": {"defaults": {"nodes": 0}}}, "/pipeline/defaults/nodes"),
        ({"pipeline": {"defaults": {"model": 7}}}, "/pipeline/defaults/model"),
        ({"pipeline": {"defaults": {"gpus": 8}}}, "/pipeline/defaults"),
        ({"storage": {"bucket": "Bad_Bucket"}}, "/storage/bucket"),
        ({"monitoring": {"podMonitor": {"interval": "soon"}}}, "/monitoring/podMonitor/interval"),
        ({"imagee": {}}, "imagee"),
    ],
)
def test_invalid_values_name_the_key(values, key):
    with pytest.raises(helm_python.HelmError) as err:
        render(values)
    assert key in str(err.value)


def test_secret_is_created_only_with_both_keys():
    objects = render({"storage": {"existingSecret": "", "createSecret": True,
                                  "accessKeyId": "id", "secretAccessKey": "key"}})  # fmt: skip
    (secret,) = by_kind(objects, "Secret")
    assert set(secret["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    with pytest.raises(helm_python.HelmError, match=r"storage\.secretAccessKey"):
        render({"storage": {"existingSecret": "", "createSecret": True, "accessKeyId": "id"}})
    with pytest.raises(helm_python.HelmError, match="existingSecret"):
        render({"storage": {"existingSecret": ""}})


def test_create_secret_with_keys_is_the_secret_the_pipelines_use():
    """Turning createSecret on (existingSecret keeps its default) creates the Secret, and the
    uploaded pipelines and the training pods read that one."""
    objects = render({"storage": {"createSecret": True, "accessKeyId": "id",
                                  "secretAccessKey": "key"}})  # fmt: skip
    (secret,) = by_kind(objects, "Secret")
    name = secret["metadata"]["name"]
    assert name.endswith("-s3")
    (job,) = by_kind(objects, "Job")
    pod = job["spec"]["template"]["spec"]
    for container in (*pod["initContainers"], *pod["containers"]):
        assert f"--set=s3_secret={name}" in container["args"]
        # The chart's service account reaches the training pods too.
        assert f"--set=service_account={pod['serviceAccountName']}" in container["args"]


def test_k8s_manifests_validate_and_match_the_chart():
    folder = chart.K8S
    objects = []
    for path in sorted(Path(folder).glob("*.yaml")):
        if path.name == "values.yaml":
            continue
        objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == [
        "Namespace", "NetworkPolicy", "PyTorchJob", "Role", "RoleBinding", "Secret",
        "ServiceAccount",
    ]  # fmt: skip
    for obj in objects:
        validate(obj)
    expected = {name: text for name, text in chart.k8s_files().items()}
    for name, text in expected.items():
        assert (folder / name).read_text() == text, name


def test_upload_hook_ships_the_posttrain_pipeline_too():
    objects = render(GPU_VALUES)
    (job,) = by_kind(objects, "Job")
    pod = job["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (main,) = pod["containers"]
    assert init["name"] == "upload-posttrain"
    assert init["image"] == main["image"] and init["command"] == main["command"]
    assert init["securityContext"] == main["securityContext"]
    assert init["volumeMounts"] == main["volumeMounts"]
    args = init["args"]
    assert "--package=/pipeline/tritter_posttrain.yaml" in args
    for container in (init, main):  # every step and training pod pulls with them
        assert "--pull-secret=registry-credentials" in container["args"]
    assert "--name=tritter-posttrain" in args
    assert "--registry=registry.example.com/ml" in args
    assert "--namespace=kubeflow-user-example-com" in args
    sets = dict(a.removeprefix("--set=").split("=", 1) for a in args if a.startswith("--set="))
    assert sets["nodes"] == "4" and sets["identity_count"] == "5000"
    assert sets["run_root"] == "s3://tritter/runs/default"
    assert sets["s3_secret"] == "tritter-s3"
    assert sets["train_image"] == "registry.example.com/ml/tritter-train:0.1.0"
    assert sets["pushgateway_url"].startswith("http://prometheus-pushgateway")
    # Every --set is a real tritter-posttrain parameter with a valid value.
    text = package.committed_package("posttrain").read_text()
    package.customize(text, "registry.example.com/ml", sets)
    (config_map,) = [
        c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-pipeline")
    ]
    assert config_map["data"]["tritter_posttrain.yaml"] == text.rstrip("\n")
    assert set(config_map["data"]) == {
        "tritter_pretrain.yaml",
        "tritter_posttrain.yaml",
        "sizing.yaml",
    }


def test_posttrain_upload_can_be_turned_off():
    objects = render({"pipeline": {"posttrain": {"upload": False}}})
    (job,) = by_kind(objects, "Job")
    assert "initContainers" not in job["spec"]["template"]["spec"]
    (config_map,) = [
        c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-pipeline")
    ]
    assert set(config_map["data"]) == {"tritter_pretrain.yaml", "sizing.yaml"}


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"pipeline": {"posttrain": {"defaults": {"mid_max_steps": -1}}}},
         "/pipeline/posttrain/defaults/mid_max_steps"),
        ({"pipeline": {"posttrain": {"defaults": {"vocab_size": 4096}}}},
         "/pipeline/posttrain/defaults"),
        ({"pipeline": {"posttrain": {"name": ""}}}, "/pipeline/posttrain/name"),
    ],
)  # fmt: skip
def test_invalid_posttrain_values_name_the_key(values, key):
    with pytest.raises(helm_python.HelmError) as err:
        render(values)
    assert key in str(err.value)


TRAINJOB = {"pipeline": {"defaults": {"launcher": "trainjob"}}}


def test_trainjob_runtime_is_rendered_only_for_the_trainjob_launcher():
    assert by_kind(render(), "TrainingRuntime") == []
    (runtime,) = by_kind(render(TRAINJOB), "TrainingRuntime")
    validate(runtime)
    assert runtime["metadata"] == {
        **runtime["metadata"],
        "name": trainjob.RUNTIME,
        "namespace": "ml",
    }
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == trainjob.NODE
    assert node["template"]["metadata"]["labels"] == {
        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
    }
    pod = node["template"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == trainjob.NODE
    assert container["ports"] == [
        {"name": "metrics", "containerPort": JobSpec("j", "i", "d", "t", "o").metrics_port}
    ]
    assert "priorityClassName" not in pod and "podGroupPolicy" not in runtime["spec"]


def test_trainjobs_run_on_the_charts_runtime_and_are_scraped():
    """The TrainJob names the chart's runtime; its pods carry the labels the PodMonitor selects
    and the runtime gives them the port it scrapes."""
    objects = render(TRAINJOB)
    (runtime,) = by_kind(objects, "TrainingRuntime")
    (monitor,) = by_kind(objects, "PodMonitor")
    job = trainjob.build_trainjob(JobSpec("tritter-x", "img", "s3://b/t", "s3://b/tok", "s3://b/o"))
    validate(job)
    reference = {"name": runtime["metadata"]["name"], "kind": runtime["kind"]}
    assert job["spec"]["runtimeRef"] == {**reference, "apiGroup": "trainer.kubeflow.org"}
    (patch,) = job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"
    ]
    labels = patch["template"]["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"][
        "template"
    ]["spec"]["containers"]
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] in {
        p["name"] for p in container["ports"]
    }


@pytest.mark.parametrize(
    ("policy", "queue_annotation"),
    [({"coscheduling": {"scheduleTimeoutSeconds": 120}}, False), ({"volcano": {}}, True)],
    ids=["coscheduling", "volcano"],
)
def test_trainjob_runtime_carries_priority_and_gang_scheduling(policy, queue_annotation):
    sizing = {"priority_class": "training-high", "gang_scheduling": True,
              "scheduling_queue": "research"}  # fmt: skip
    values = {"pipeline": {"defaults": {"launcher": "trainjob"}, "sizing": sizing,
                           "trainjob": {"podGroupPolicy": policy}}}  # fmt: skip
    (runtime,) = by_kind(render(values), "TrainingRuntime")
    validate(runtime)
    assert runtime["spec"]["podGroupPolicy"] == policy
    node = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]
    assert node["template"]["spec"]["template"]["spec"]["priorityClassName"] == "training-high"
    annotations = runtime["spec"]["template"].get("metadata", {}).get("annotations", {})
    assert (annotations.get("scheduling.volcano.sh/queue-name") == "research") is queue_annotation


def test_trainjob_gang_scheduling_without_a_scheduler_names_the_key():
    values = {
        "pipeline": {"defaults": {"launcher": "trainjob"}, "sizing": {"gang_scheduling": True}}
    }
    with pytest.raises(helm_python.HelmError, match=r"pipeline\.trainjob\.podGroupPolicy"):
        render(values)
    with pytest.raises(helm_python.HelmError, match="podGroupPolicy"):
        render({"pipeline": {"trainjob": {"podGroupPolicy": {"coscheduling": {}, "volcano": {}}}}})


def test_the_continue_2b4t_example_uploads_a_continued_pretraining_pipeline():
    """helm/examples/continue-2b4t-on-code.yaml over the multi-node example: the upload hook
    sets base_model (and leaves the tokenizer to the base folder's own), every object still
    validates, and the values are real pipeline parameters."""
    example = yaml.safe_load((CHART.parent / "examples" / "continue-2b4t-on-code.yaml").read_text())
    values = json.loads(json.dumps(GPU_VALUES))
    values["pipeline"]["defaults"].update(example["pipeline"]["defaults"])
    objects = render(values)
    for obj in objects:
        validate(obj)
    (job,) = by_kind(objects, "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    sets = dict(
        a.removeprefix("--set=").split("=", 1) for a in container["args"] if a.startswith("--set=")
    )
    assert sets["base_model"] == "s3://tritter/models/bitnet-b1.58-2B-4T-bf16"
    assert sets["seq_len"] == "4096" and sets["nodes"] == "4"
    package.customize(package.committed_package().read_text(), "registry.example.com/ml", sets)
