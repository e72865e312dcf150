"""Pipeline parameters: bounds, one-line errors naming the parameter, defaults and images."""

from __future__ import annotations

import json

import pytest
import yaml

from tritter.deploy import params
from tritter.errors import TritterError
from tritter.jobs import curate as curate_job
from tritter.jobs import settings as settings_job
from tritter.model import PRESETS
from tritter.pipelines import package


def test_model_presets_match_the_model_package():
    assert set(params.MODEL_PRESETS) == set(PRESETS)


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"run_root": ""}, "run_root"),
        ({"seq_len": 4}, "seq_len"),
        ({"vocab_size": 70000}, "vocab_size"),
        ({"model": "13b"}, "model"),
        ({"nodes": 0}, "nodes"),
        ({"languages": "python,klingon"}, "languages"),
        ({"mixture": "python=-1"}, "mixture"),
        ({"eval_tasks": "humaneval,trivia"}, "eval_tasks"),
        ({"launcher": "slurm"}, "launcher"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_parameters_name_themselves(values, name):
    values = {"run_root": "/tmp/x", **values}
    with pytest.raises(TritterError, match=f"pipeline parameter '{name}'") as err:
        params.check(**values)
    assert "\n" not in str(err.value)


def test_steps_refuse_bad_settings_before_any_work(tmp_path):
    settings = settings_job.check_parameters(run_root=str(tmp_path / "run"))
    data = json.loads(settings)
    data["seq_len"] = 3
    with pytest.raises(TritterError, match="pipeline parameter 'seq_len'"):
        curate_job.plan(json.dumps(data))
    with pytest.raises(TritterError, match="work unit"):
        curate_job.process_unit("not json")
    assert not (tmp_path / "run" / "curated").exists()


def test_s3_run_root_without_credentials_names_the_secret(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(TritterError, match="Secret 'my-s3'"):
        settings_job.check_parameters(run_root="s3://bucket/run", s3_secret="my-s3")


def test_docstring_describes_every_parameter():
    text = params.describe()
    for name, info in params.PipelineParams.model_fields.items():
        assert f"    {name}: {info.description}" in text


def test_customize_moves_images_and_defaults():
    text = package.committed_package().read_text()
    custom = package.customize(
        text, "registry.example.com/ml", {"run_root": "s3://b/runs/x", "nodes": "4"}
    )
    spec = next(yaml.safe_load_all(custom))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {
        "registry.example.com/ml/tritter-data:0.1.0",  # the training steps launch from it
        "registry.example.com/ml/tritter-eval:0.1.0",
    }
    root = spec["root"]["inputDefinitions"]["parameters"]
    assert root["run_root"]["defaultValue"] == "s3://b/runs/x"
    assert root["nodes"]["defaultValue"] == 4
    assert root["train_image"]["defaultValue"] == "registry.example.com/ml/tritter-train:0.1.0"
    with pytest.raises(TritterError, match="pipeline parameter 'nodes'"):
        package.customize(text, None, {"nodes": "0"})
    with pytest.raises(TritterError, match="unknown pipeline parameter 'nope'"):
        package.customize(text, None, {"nope": "1"})


def test_local_copy_has_no_retries():
    text = package.committed_package().read_text()
    assert "retryPolicy" in text
    assert "retryPolicy" not in package.without_retries(text)


# -- tritter-posttrain ---------------------------------------------------------------------------


def test_eval_tasks_match_the_evaluate_package():
    from tritter.evaluate.config import DEFAULT_TASKS, TASKS

    assert params.CHAT_EVAL_TASKS == TASKS and params.EVAL_TASKS == DEFAULT_TASKS
    # A base model cannot answer the identity questions: refused before the run starts.
    with pytest.raises(TritterError, match="pipeline parameter 'eval_tasks': the identity task"):
        params.check(run_root="/tmp/x", eval_tasks="humaneval,identity")
    with pytest.raises(TritterError, match="pipeline parameter 'eval_tasks': the persona task"):
        params.check(run_root="/tmp/x", eval_tasks="persona")


def test_both_pipelines_share_the_run_parameters():
    common = set(params.RunParams.model_fields)
    assert common <= set(params.PipelineParams.model_fields)
    assert common <= set(params.PosttrainParams.model_fields)
    for name in common - {"eval_tasks"}:  # post-training leaves perplexity out by default
        pretrain = params.PipelineParams.model_fields[name]
        posttrain = params.PosttrainParams.model_fields[name]
        assert pretrain.default == posttrain.default, name
        assert pretrain.description == posttrain.description, name


POSTTRAIN = {"run_root": "/tmp/x", "base": "/tmp/base/checkpoints"}


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"base": " "}, "base"),
        ({"run_root": ""}, "run_root"),
        ({"conversations": "chats.jsonl"}, "conversations"),
        ({"conversations": "a=x.jsonl,a=y.jsonl"}, "conversations"),
        ({"conversations": "b c=x.jsonl"}, "conversations"),
        ({"conversations": "identity=x.jsonl"}, "conversations"),
        ({"identity_count": -1}, "identity_count"),
        ({"mid_lr": 0}, "mid_lr"),
        ({"sft_max_steps": -5}, "sft_max_steps"),
        ({"eval_tasks": "trivia"}, "eval_tasks"),
        ({"vocab_size": 4096}, "vocab_size"),
        ({"rl_reward": "vibes"}, "rl_reward"),
        ({"rl_reward": "module:"}, "rl_reward"),
        ({"rl_samples_per_prompt": 1}, "rl_samples_per_prompt"),
        ({"rl_samples_per_prompt": 3, "rl_prompts": "x.jsonl"}, "rl_samples_per_prompt"),
        ({"rl_max_steps": -1}, "rl_max_steps"),
    ],
)
def test_bad_posttrain_parameters_name_themselves(values, name):
    with pytest.raises(TritterError, match=f"pipeline parameter '{name}'") as err:
        params.check_params(params.PosttrainParams, {**POSTTRAIN, **values})
    assert "\n" not in str(err.value)


def test_rl_group_size_only_matters_when_rl_runs():
    values = {**POSTTRAIN, "micro_batch_size": 4, "rl_samples_per_prompt": 8}
    assert params.check_params(params.PosttrainParams, values).rl_prompts == ""
    with pytest.raises(TritterError, match=r"micro_batch_size 4 .* must be a multiple of it"):
        params.check_params(params.PosttrainParams, {**values, "rl_prompts": "builtin:arithmetic"})


def test_posttrain_sources_and_tokenizer():
    checked = params.check_params(params.PosttrainParams, POSTTRAIN)
    assert checked.given_sources() == {}
    assert checked.tokenizer_uri() == "/tmp/x/tokenizer"
    assert checked.eval_tasks == "humaneval,mbpp,identity,persona"
    checked = params.check_params(
        params.PosttrainParams,
        {**POSTTRAIN, "conversations": "chats=s3://b/chats/, best = /d/best.jsonl",
         "tokenizer": "s3://b/tok/", "identity_count": 0},
    )  # fmt: skip
    assert checked.given_sources() == {"chats": "s3://b/chats", "best": "/d/best.jsonl"}
    assert checked.tokenizer_uri() == "s3://b/tok"
    # Without the generated identity set the name is free.
    params.check_params(
        params.PosttrainParams, {**POSTTRAIN, "identity_count": 0, "conversations": "identity=x"}
    )


def test_posttrain_docstring_describes_every_parameter():
    text = params.describe(params.PosttrainParams)
    assert text.startswith(params.PosttrainParams.SUMMARY)
    for name, info in params.PosttrainParams.model_fields.items():
        assert f"    {name}: {info.description}" in text


def test_customize_the_posttrain_package():
    text = package.committed_package("posttrain").read_text()
    assert package.kind_of(text) == "posttrain"
    custom = package.customize(
        text, "registry.example.com/ml", {"base": "s3://b/runs/x/checkpoints", "sft_lr": "3e-4"}
    )
    spec = next(yaml.safe_load_all(custom))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {
        "registry.example.com/ml/tritter-data:0.1.0",  # the training steps launch from it
        "registry.example.com/ml/tritter-eval:0.1.0",
    }
    root = spec["root"]["inputDefinitions"]["parameters"]
    assert root["base"]["defaultValue"] == "s3://b/runs/x/checkpoints"
    assert root["sft_lr"]["defaultValue"] == 3e-4
    with pytest.raises(TritterError, match="pipeline parameter 'mid_max_steps'"):
        package.customize(text, None, {"mid_max_steps": "-1"})
    # A pretraining parameter is not one of this pipeline's.
    with pytest.raises(TritterError, match="unknown pipeline parameter 'vocab_size'"):
        package.customize(text, None, {"vocab_size": "4096"})
