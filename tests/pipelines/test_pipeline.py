"""The compiled tritter-pretrain pipeline: up to date, loads back, and is wired as intended."""

from __future__ import annotations

import yaml
from kfp import components

from tests.conftest import run_tritter
from tritter.deploy.params import PipelineParams
from tritter.pipelines import package

COMMITTED = package.committed_package()


def ir() -> tuple[dict, dict]:
    spec, platform = yaml.safe_load_all(COMMITTED.read_text())
    return spec, platform


def test_committed_yaml_is_up_to_date():
    assert COMMITTED.read_text() == package.compile_text(), (
        "run `tritter pipeline compile --output pipelines/tritter_pretrain.yaml`"
    )


def test_compile_command_writes_the_same_file(tmp_path):
    result = run_tritter("pipeline", "compile", "--output", str(tmp_path / "p.yaml"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p.yaml").read_text() == COMMITTED.read_text()


def test_loads_back_with_every_parameter_default_and_description():
    loaded = components.load_component_from_file(str(COMMITTED))
    assert loaded.name == "tritter-pretrain"
    inputs = loaded.component_spec.inputs
    assert set(inputs) == set(PipelineParams.model_fields)
    spec, _ = ir()
    declared = spec["root"]["inputDefinitions"]["parameters"]
    for name, field in PipelineParams.model_fields.items():
        assert declared[name]["defaultValue"] == field.default, name
        assert declared[name]["description"] == field.description, name


def _tasks(spec: dict) -> dict[str, dict]:
    """Every task of every DAG (the root and the ParallelFor bodies)."""
    found = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        found.update(component.get("dag", {}).get("tasks", {}))
    return found


def test_stages_fan_out_and_run_in_order():
    spec, _ = ir()
    tasks = _tasks(spec)
    loops = {name: t for name, t in tasks.items() if "parameterIterator" in t}
    bodies = sorted(
        task["componentRef"]["name"]
        for loop in loops.values()
        for task in spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"].values()
    )
    assert bodies == [
        "comp-curate-apply",
        "comp-curate-index",
        "comp-curate-process",
        "comp-pack-shard",
    ]
    for stage in ("check-parameters", "curate-finalize", "tokenizer-train", "pack-finalize",
                  "pretrain", "evaluate", "report"):  # fmt: skip
        assert stage in tasks
    assert set(tasks["pretrain"]["dependentTasks"]) == {
        "check-parameters",
        "pack-finalize",
        "tokenizer-train",
    }
    assert "pretrain" in tasks["evaluate"]["dependentTasks"]


def test_per_step_settings():
    spec, platform = ir()
    tasks = _tasks(spec)
    executors = spec["deploymentSpec"]["executors"]
    for name, task in tasks.items():
        if "parameterIterator" in task:
            continue
        caching = task.get("cachingOptions", {}).get("enableCache", False)
        assert caching == (name == "check-parameters"), name
        executor = executors[spec["components"][task["componentRef"]["name"]]["executorLabel"]]
        container = executor["container"]
        assert "pip install" not in " ".join(container["command"])  # install_kfp_package=False
        assert container["resources"]["cpuLimit"] > 0
        assert container["env"] == [{"name": "TRITTER_LOG_FORMAT", "value": "json"}]
        if name in ("curate-process", "curate-index", "curate-apply", "pack-shard"):
            assert task["retryPolicy"]["maxRetryCount"] == 3
    evaluate = executors["exec-evaluate"]["container"]["resources"]["accelerator"]
    assert evaluate["resourceCount"] == "1" and evaluate["resourceType"] == "nvidia.com/gpu"
    assert "retryPolicy" not in tasks["check-parameters"]
    kube = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(kube) == set(executors)
    for name, config in kube.items():
        (secret,) = config["secretAsEnv"]
        assert secret["optional"] is True
        assert secret["secretNameParameter"]["componentInputParameter"].endswith("s3_secret"), name
        keys = {k["secretKey"] for k in secret["keyToEnv"]}
        assert keys == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert int(kube["exec-pretrain"]["activeDeadlineSeconds"]) > 0
