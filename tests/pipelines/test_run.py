"""`tritter run`: the compiled pipelines end to end with KFP's local SubprocessRunner."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_tritter
from tests.deploy.corpus import build_source
from tests.support.hf_base import build_hf_base
from tests.tokenizer.hf_support import build_hf_tokenizer
from tritter import cli, storage
from tritter.commands import run as run_command
from tritter.deploy.params import PipelineParams, PosttrainParams
from tritter.errors import TritterError
from tritter.run_folder import PRETRAIN_MANIFEST, TOKENIZER_OUTPUT, TRAIN_MANIFESTS

# Small enough for two CPU cores: a 2k vocabulary, 128-token windows, 6 training steps.
FAST = [
    "--vocab-size", "2048", "--seq-len", "128", "--max-steps", "6", "--checkpoint-every", "3",
    "--eval-tasks", "perplexity,humaneval", "--eval-limit", "1", "--eval-max-new-tokens", "16",
]  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return build_source(tmp_path_factory.mktemp("source"))


def check_run(root: str) -> None:
    for stage in ("curated", "tokenizer", "tokens", "eval", "report"):
        assert storage.exists(storage.join(root, stage, "_manifest.json")), stage
    checkpoints = storage.join(root, "checkpoints")
    records = [
        json.loads(line)
        for line in storage.read_text(storage.join(checkpoints, "metrics.jsonl")).splitlines()
    ]
    steps = [r["step"] for r in records if r["kind"] == "train"]
    assert steps and max(steps) == 6
    assert storage.exists(storage.join(checkpoints, "final", "config.json"))
    assert storage.exists(storage.join(checkpoints, "final", "model.safetensors"))
    results = json.loads(storage.read_text(storage.join(root, "eval", "results.json")))
    assert {"perplexity", "humaneval"} <= set(results["tasks"])
    assert storage.exists(storage.join(root, "report", "report.html"))


def check_quiet(stdout: str, root: str) -> None:
    """A person reads the stages, training progress and a summary; KFP's raw output (executor
    JSON, every record of every step) is in the run's log file instead."""
    lines = stdout.splitlines()
    assert len(lines) <= 70, f"{len(lines)} lines:\n{stdout}"
    assert max(len(line) for line in lines) <= 200
    for stage in ("curate-finalize", "tokenizer-train", "pack-finalize", "pretrain", "report"):
        assert any(line.startswith(f"→ {stage}") for line in lines), stage
        assert any(line.startswith(f"✓ {stage}") for line in lines), stage
    assert any("documents kept" in line for line in lines if line.startswith("✓ curate-final"))
    assert any(re.match(r"  step \d+/6 loss", line) for line in lines)
    assert re.search(r"^stage +units +time +result$", stdout, re.M)
    assert "KFP Executor" not in stdout and "executor_output" not in stdout
    (log_line,) = [line for line in lines if line.startswith("log: ")]
    raw = storage.read_text(log_line.removeprefix("log: "))
    assert log_line.startswith(f"log: {root}/logs/run-")
    assert "Executing task 'curate-plan'" in raw and '"logger": "tritter.train"' in raw


@pytest.mark.slow
def test_run_on_a_local_folder(source, tmp_path):
    root = tmp_path / "run"
    result = run_tritter("run", "--input", str(source), "--output", str(root), *FAST)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"report: {root}/report/report.html" in result.stdout
    check_run(str(root))
    check_quiet(result.stdout, str(root))


@pytest.mark.slow
def test_run_continues_a_base_model_with_its_own_tokenizer(source, tmp_path):
    """`tritter run --pipeline full --base DIR`: the tokenizer step imports the base folder's
    tokenizer.json (the chat markers on its reserved special tokens), pretraining starts from
    its weights (shape from its config.json), evaluation and the report run on the result, and
    post-training (mid, SFT, DPO, RL) continues from it with that tokenizer."""
    base = build_hf_base(tmp_path / "base")
    root = tmp_path / "run"
    result = run_tritter("run", "--pipeline", "full", "--input", str(source), "--output",
                         str(root), "--base", str(base), "--seq-len", "128", "--max-steps", "4",
                         "--checkpoint-every", "2", "--eval-tasks", "perplexity",
                         "--micro-batch-size", "4", "--mid-max-steps", "4", "--sft-max-steps",
                         "4", "--identity-count", "200", "--docstrings-count", "200",
                         "--eval-limit", "1", "--eval-max-new-tokens", "8")  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tokenizer = TOKENIZER_OUTPUT.require(str(root / "tokenizer"))
    assert tokenizer.stage == "tokenizer-import" and tokenizer.inputs.source == str(base)
    assert len(tokenizer.extra.chat_markers) == 10
    for phase in ("mid", "sft"):
        trained = TRAIN_MANIFESTS[phase].require(str(root / phase))
        assert trained.counts.steps == 4
        assert trained.inputs.tokenizer_sha256 == tokenizer.extra.sha256
    assert f"chat: tritter chat --checkpoint {root}/sft --tokenizer {root}/tokenizer" in (
        result.stdout
    )
    assert tokenizer.counts.compression["all"].bytes_per_token > 1.0
    trained = PRETRAIN_MANIFEST.require(str(root / "checkpoints"))
    assert trained.inputs.init == str(base) and trained.counts.steps == 4
    assert trained.inputs.init_identity["kind"] == "huggingface"
    config = json.loads((root / "checkpoints" / "final" / "config.json").read_text())
    assert config["hidden_size"] == 64  # the base's shape, not the local default preset's
    assert "Imported tokenizer" in (root / "report" / "report.md").read_text()


def test_full_from_a_base_whose_tokenizer_cannot_get_chat_markers_stops_first(source, tmp_path):
    """No reserved special tokens to put the chat markers on: post-training would refuse the
    tokenizer, so `--pipeline full` says so before curation and pretraining, not after."""
    base = build_hf_tokenizer(tmp_path / "base")
    (base / "config.json").write_text("{}")
    result = run_tritter("run", "--pipeline", "full", "--input", str(source), "--output",
                         str(tmp_path / "run"), "--base", str(base))  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("tritter: error: --pipeline full: ") and str(base) in line
    assert "tokenizer has no <|system_start|>" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_run_with_s3_as_the_run_root(source, s3_bucket, s3_env):
    root = f"{s3_bucket}/runs/first"
    result = run_tritter("run", "--input", str(source), "--output", root, *FAST, env=s3_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    check_run(root)
    check_quiet(result.stdout, root)  # the raw log is uploaded next to the stages


def test_bad_parameter_is_one_line_before_anything_runs(tmp_path):
    result = run_tritter("run", "--output", str(tmp_path / "run"), "--seq-len", "3")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("tritter: error:")
    assert "seq_len" in result.stderr
    assert not (tmp_path / "run").exists()


def test_failing_step_ends_with_its_own_error_line(tmp_path):
    broken = tmp_path / "documents.parquet"
    broken.write_text("not parquet")
    result = run_tritter("run", "--input", str(broken), "--output", str(tmp_path / "run"))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tritter: error:") and str(broken) in last, last
    assert "not a readable Parquet file" in last and "(full log: " in last
    assert "Traceback" not in result.stdout + result.stderr
    assert len((result.stdout + result.stderr).splitlines()) <= 15
    # The failed stage left no empty output folder behind.
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["logs"]


def test_missing_input_is_refused_with_the_parameters(tmp_path):
    missing = tmp_path / "no-such-source"
    result = run_tritter("run", "--input", str(missing), "--output", str(tmp_path / "run"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"tritter: error: --input {missing}: input not found"
    ]
    assert not (tmp_path / "run").exists()
    # The pipeline's own parameter step (what runs first on a cluster) refuses it too.
    from tritter.jobs.settings import check_source

    with pytest.raises(TritterError, match=r"pipeline parameter 'source': .*input not found"):
        check_source(str(missing))
    check_source("python-stdlib")
    check_source("s3://bucket/src")


def test_curation_that_keeps_nothing_fails_at_curation(tmp_path):
    source = tmp_path / "unlicensed"
    source.mkdir()
    (source / "tool.py").write_text("def f(x):\n    return x + 1\n\n\nprint(f(1))\n")
    result = run_tritter("run", "--input", str(source), "--output", str(tmp_path / "run"))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "curation kept none of 1 input documents" in last, last
    assert "license_unknown 1" in last and "--assume-license" in last
    assert "✗ curate-finalize" in result.stdout and "tokenizer-train" not in result.stdout


# -- --pipeline posttrain | full -----------------------------------------------------------------

# A few steps of each phase on CPU, one short HumanEval problem.
POSTTRAIN_FAST = [
    "--seq-len", "64", "--micro-batch-size", "4", "--mid-max-steps", "4", "--sft-max-steps", "4",
    "--checkpoint-every", "4", "--identity-count", "200", "--docstrings-count", "200",
    "--eval-tasks", "humaneval,identity", "--eval-limit", "1", "--eval-max-new-tokens", "8",
]  # fmt: skip


@pytest.mark.slow
def test_posttrain_run_on_a_tiny_base(base, tmp_path):
    root = tmp_path / "run"
    result = run_tritter(
        "run", "--pipeline", "posttrain", "--base", base["checkpoints"],
        "--tokenizer", base["tokenizer"], "--output", str(root), *POSTTRAIN_FAST,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"report: {root}/report/report.html" in result.stdout
    assert f"chat: tritter chat --checkpoint {root}/sft --tokenizer {base['tokenizer']}" in (
        result.stdout
    )
    for folder in ("synth/identity", "synth/docstrings", "mid", "sft", "sft/eval", "report"):
        assert storage.exists(storage.join(str(root), folder, "_manifest.json")), folder
    for phase in ("mid", "sft"):
        records = [
            json.loads(line) for line in (root / phase / "metrics.jsonl").read_text().splitlines()
        ]
        assert max(r["step"] for r in records if r["kind"] == "train") == 4, phase
    results = json.loads((root / "sft" / "eval" / "results.json").read_text())
    assert set(results["tasks"]) == {"humaneval", "identity"}
    assert not (root / "checkpoints").exists() and not (root / "eval").exists()
    # The report shows the fine-tuned model's scores from sft/eval, not only its training.
    report = (root / "report" / "report.md").read_text()
    section = report[report.index("## Post-training") :]
    assert "Fine-tuned model (sft/eval/): code generation" in section
    identity = results["tasks"]["identity"]
    assert f"| Identity consistency | {identity['consistency']:.1%} |" in section
    assert "No eval/results.json yet" in report  # this run has no pretraining evaluation


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pipeline", "posttrain"], "--pipeline posttrain needs --base"),
        (["--pipeline", "posttrain", "--base", "/b", "--vocab-size", "2048"],
         "--vocab-size is a tritter-pretrain parameter"),
        (["--pipeline", "posttrain", "--base", "/b", "--input", "python-stdlib"],
         "--input is a tritter-pretrain parameter"),
        (["--sft-max-steps", "3"], "--sft-max-steps is a tritter-posttrain parameter"),
        (["--pipeline", "full", "--tokenizer", "/t"], "--pipeline full post-trains the run's own"),
        (["--pipeline", "full", "--mid-max-steps", "-1"], "mid_max_steps"),
    ],
)  # fmt: skip
def test_pipeline_choice_and_its_parameters_are_checked_first(args, message, tmp_path):
    parsed = cli.build_parser().parse_args(["run", "--output", str(tmp_path / "run"), *args])
    with pytest.raises(TritterError, match=re.escape(message)):
        run_command.resolve(parsed)


def test_full_post_trains_the_runs_own_checkpoints(tmp_path):
    parsed = cli.build_parser().parse_args(
        ["run", "--pipeline", "full", "--output", str(tmp_path / "run"), "--seq-len", "128",
         "--eval-limit", "2", "--sft-max-steps", "7", "--max-steps", "9"]
    )  # fmt: skip
    pretrain, posttrain = run_command.resolve(parsed)
    assert isinstance(pretrain, PipelineParams) and isinstance(posttrain, PosttrainParams)
    root = str(tmp_path / "run")
    assert pretrain.run_root == posttrain.run_root == root
    assert pretrain.source == "python-stdlib" and pretrain.max_steps == 9
    assert posttrain.base == f"{root}/checkpoints" and posttrain.tokenizer == f"{root}/tokenizer"
    # Shared parameters apply to both; each keeps its own local defaults otherwise.
    assert pretrain.seq_len == posttrain.seq_len == 128
    assert pretrain.eval_limit == posttrain.eval_limit == 2
    assert posttrain.sft_max_steps == 7 and posttrain.mid_max_steps == 100
    assert pretrain.model == "tiny" and posttrain.launcher == "local"
    assert "perplexity" in pretrain.eval_tasks and "perplexity" not in posttrain.eval_tasks


def test_base_continues_pretraining_with_the_base_models_tokenizer(tmp_path, monkeypatch):
    """`tritter run --base DIR`: the pretrain pipeline's base_model; the tokenizer step imports
    the base folder's own tokenizer unless --tokenizer-from names another."""
    from jobs import pretrain as pretrain_job
    from jobs import tokenizer as tokenizer_job

    monkeypatch.chdir(tmp_path)
    parsed = cli.build_parser().parse_args(
        ["run", "--output", "run", "--base", "models/2b4t", "--max-steps", "5"]
    )
    (params,) = run_command.resolve(parsed)
    assert params.base_model == str(tmp_path / "models" / "2b4t")
    assert params.imported_tokenizer() == params.base_model
    spec = pretrain_job.train_job_spec(params, "/data", "/tok", "local")
    assert spec.init == params.base_model and spec.model is None  # the shape is the base's
    assert "--init" in spec.command() and "--model" not in spec.command()
    imported = tokenizer_job.import_config(params, "/curated")
    assert imported.source == params.base_model and imported.output.endswith("run/tokenizer")

    parsed = cli.build_parser().parse_args(
        ["run", "--output", "run", "--base", "s3://b/2b4t", "--tokenizer-from", "tok"]
    )
    (params,) = run_command.resolve(parsed)
    assert params.base_model == "s3://b/2b4t"
    assert params.imported_tokenizer() == str(tmp_path / "tok")
    # Without a base the pipeline trains its own tokenizer and model, as before.
    (fresh,) = run_command.resolve(cli.build_parser().parse_args(["run", "--output", "run"]))
    assert (
        fresh.imported_tokenizer() == ""
        and pretrain_job.train_job_spec(fresh, "/d", "/t", "local").init is None
    )


def test_a_missing_base_or_tokenizer_fails_the_parameter_check(tmp_path):
    from jobs import settings

    values = {**_pretrain_values(tmp_path), "base_model": str(tmp_path / "nothing")}
    with pytest.raises(TritterError, match="pipeline parameter 'base_model': nothing at"):
        settings.check_parameters(**values)
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    values["base_model"] = str(base)
    with pytest.raises(TritterError, match=r"pipeline parameter 'base_model': .*no tokenizer"):
        settings.check_parameters(**values)


def _pretrain_values(tmp_path) -> dict:
    parsed = cli.build_parser().parse_args(["run", "--output", str(tmp_path / "run")])
    (params,) = run_command.resolve(parsed)
    return params.model_dump()


def test_a_relative_input_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    parsed = cli.build_parser().parse_args(["run", "--input", "src", "--output", "run"])
    (pretrain,) = run_command.resolve(parsed)
    assert pretrain.source == str(tmp_path / "src")


def test_posttrain_makes_local_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parsed = cli.build_parser().parse_args(
        ["run", "--pipeline", "posttrain", "--output", "run", "--base", "base/checkpoints",
         "--conversations", "chats=data/chats.jsonl,hub=hf://org/set"]
    )  # fmt: skip
    (posttrain,) = run_command.resolve(parsed)
    assert posttrain.base == str(tmp_path / "base" / "checkpoints")
    assert posttrain.tokenizer_uri() == str(tmp_path / "run" / "tokenizer")
    assert posttrain.given_sources() == {
        "chats": str(tmp_path / "data" / "chats.jsonl"),
        "hub": "hf://org/set",
    }


def test_curation_parameters_reach_the_curate_config(tmp_path):
    """min_stars and semantic dedup are pipeline parameters; the curate steps' config (what
    every fanned-out unit reads from the plan) carries them."""
    from jobs import curate as curate_job

    parsed = cli.build_parser().parse_args(
        ["run", "--output", str(tmp_path / "run"), "--min-stars", "100", "--semantic-dedup",
         "s3://models/encoder", "--semantic-threshold", "0.9"]
    )  # fmt: skip
    (params,) = run_command.resolve(parsed)
    made = curate_job.config(params)
    assert (made.min_stars, made.semantic_dedup, made.semantic_threshold) == (
        100, "s3://models/encoder", 0.9,
    )  # fmt: skip
    (plain,) = run_command.resolve(cli.build_parser().parse_args(["run", "--output", "r"]))
    assert curate_job.config(plain).semantic_dedup is None
