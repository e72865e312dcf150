"""The compiled tritter-pretrain pipeline: up to date, loads back, and is wired as intended."""

from __future__ import annotations

import yaml
from kfp import components

from tests.conftest import run_tritter
from tritter.deploy.params import PipelineParams, PosttrainParams
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


# -- tritter-posttrain ---------------------------------------------------------------------------

POSTTRAIN = package.committed_package("posttrain")


def posttrain_ir() -> tuple[dict, dict]:
    spec, platform = yaml.safe_load_all(POSTTRAIN.read_text())
    return spec, platform


def test_committed_posttrain_yaml_is_up_to_date():
    assert POSTTRAIN.read_text() == package.compile_text("posttrain"), (
        "run `tritter pipeline compile --pipeline all --output pipelines/`"
    )


def test_compile_all_writes_both_committed_files(tmp_path):
    result = run_tritter("pipeline", "compile", "--pipeline", "all", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tritter_pretrain.yaml").read_text() == COMMITTED.read_text()
    assert (tmp_path / "tritter_posttrain.yaml").read_text() == POSTTRAIN.read_text()


def test_posttrain_loads_back_with_every_parameter_default_and_description():
    loaded = components.load_component_from_file(str(POSTTRAIN))
    assert loaded.name == "tritter-posttrain"
    assert set(loaded.component_spec.inputs) == set(PosttrainParams.model_fields)
    spec, _ = posttrain_ir()
    declared = spec["root"]["inputDefinitions"]["parameters"]
    for name, field in PosttrainParams.model_fields.items():
        assert declared[name]["defaultValue"] == field.default, name
        assert declared[name]["description"] == field.description, name


def test_posttrain_steps_run_in_order():
    spec, _ = posttrain_ir()
    tasks = _tasks(spec)
    assert not [t for t in tasks.values() if "parameterIterator" in t]
    assert set(tasks) == {"check-posttrain-parameters", "synth-identity", "synth-docstrings",
                          "synth-generate", "synth-critique", "synth-revise", "synth-filter",
                          "mid", "sft", "dpo", "rl", "evaluate-sft",
                          "report-posttrain"}  # fmt: skip
    after = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    check = "check-posttrain-parameters"
    assert after["synth-identity"] == after["synth-docstrings"] == {check}
    assert after["synth-generate"] == {check}
    # The constitutional chain: each step reads the previous one's folder.
    assert after["synth-critique"] == {check, "synth-generate"}
    assert after["synth-revise"] == {check, "synth-critique"}
    assert after["synth-filter"] == {check, "synth-revise"}
    assert after["mid"] == {check, "synth-identity", "synth-docstrings"}
    assert after["sft"] == {check, "mid", "synth-filter"}  # the revised conversations join SFT
    assert after["dpo"] == {check, "sft", "synth-filter"}  # ... and the pairs DPO
    assert after["rl"] == {check, "dpo"}  # RL from DPO's model (or SFT's, passed on)
    assert after["evaluate-sft"] == {check, "rl"}  # the final model: RL's, DPO's or SFT's
    assert after["report-posttrain"] == {check, "evaluate-sft"}


def test_posttrain_per_step_settings():
    spec, platform = posttrain_ir()
    tasks = _tasks(spec)
    executors = spec["deploymentSpec"]["executors"]
    images = {}
    for name, task in tasks.items():
        caching = task.get("cachingOptions", {}).get("enableCache", False)
        assert caching == (name == "check-posttrain-parameters"), name
        container = executors[spec["components"][task["componentRef"]["name"]]["executorLabel"]][
            "container"
        ]
        assert "pip install" not in " ".join(container["command"])
        assert container["env"] == [{"name": "TRITTER_LOG_FORMAT", "value": "json"}]
        images[name] = container["image"].split("/")[-1].split(":")[0]
        retries = task.get("retryPolicy", {}).get("maxRetryCount", 0)
        expected = {"check-posttrain-parameters": 0, "synth-identity": 3, "synth-docstrings": 3,
                    "synth-generate": 3, "synth-critique": 3, "synth-revise": 3,
                    "synth-filter": 3}  # fmt: skip
        assert retries == expected.get(name, 1), name
    assert images == {
        "check-posttrain-parameters": "tritter-data", "synth-identity": "tritter-data",
        "synth-docstrings": "tritter-data", "synth-generate": "tritter-eval",
        "synth-critique": "tritter-eval", "synth-revise": "tritter-eval",
        "synth-filter": "tritter-data", "mid": "tritter-data", "sft": "tritter-data",
        "dpo": "tritter-data", "rl": "tritter-data", "evaluate-sft": "tritter-eval",
        "report-posttrain": "tritter-eval",
    }  # fmt: skip
    gpu = executors["exec-evaluate-sft"]["container"]["resources"]["accelerator"]
    assert gpu["resourceCount"] == "1" and gpu["resourceType"] == "nvidia.com/gpu"
    kube = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(kube) == set(executors)
    for name, config in kube.items():
        (secret,) = config["secretAsEnv"]
        assert secret["secretNameParameter"]["componentInputParameter"].endswith("s3_secret"), name
    assert int(kube["exec-mid"]["activeDeadlineSeconds"]) > 0
    assert int(kube["exec-sft"]["activeDeadlineSeconds"]) > 0
    assert int(kube["exec-dpo"]["activeDeadlineSeconds"]) > 0
    assert int(kube["exec-rl"]["activeDeadlineSeconds"]) > 0
