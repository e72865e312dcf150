"""The tritter-posttrain step bodies driven by hand the way the pipeline drives them, on a tiny
pretrained base: synth → (constitutional) → mid → sft → (dpo) → (rl) → evaluate → report, then
a relaunch that does no work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.deploy.validation import validate
from tests.tokenizer.hf_support import build_hf_tokenizer
from tritter import manifest
from tritter.deploy.pytorchjob import build_job
from tritter.errors import TritterError
from tritter.jobs import dpo as dpo_job
from tritter.jobs import evaluate as evaluate_job
from tritter.jobs import report as report_job
from tritter.jobs import rl as rl_job
from tritter.jobs import settings as settings_job
from tritter.jobs import sft as sft_job
from tritter.jobs import synth as synth_job
from tritter.run_folder import (
    DPO_MANIFEST,
    MID_MANIFEST,
    RL_DATA_MANIFEST,
    RL_MANIFEST,
    SFT_DATA_MANIFEST,
    SFT_MANIFEST,
)

# A few steps of each phase on CPU: the machinery, not a useful model.
TINY = dict(
    gpus_per_node=0, seq_len=64, micro_batch_size=4, mid_max_steps=3, sft_max_steps=3,
    checkpoint_every=3, identity_count=100, docstrings_count=100, eval_tasks="humaneval",
    eval_limit=1, eval_max_new_tokens=8, launcher="local",
)  # fmt: skip


def _steps(settings: str) -> list[str]:
    identity = synth_job.identity(settings)
    docstrings = synth_job.docstrings(settings)
    generated = synth_job.generate(settings)
    critiques = synth_job.critique(settings, generated)
    pairs = synth_job.revise(settings, critiques)
    filtered = synth_job.filter_pairs(settings, pairs)
    mid = sft_job.mid(settings, identity, docstrings)
    tuned = sft_job.sft(settings, mid, filtered)
    preferred = dpo_job.dpo(settings, tuned, filtered)
    final = rl_job.rl(settings, preferred)
    evaluated = evaluate_job.evaluate_sft(settings, final)
    reported = report_job.report_posttrain(settings, evaluated)
    return [identity, docstrings, mid, tuned, evaluated, reported, generated, final]


def _stamps(folders: list[str]) -> list[int]:
    return [Path(manifest.manifest_uri(f)).stat().st_mtime_ns for f in folders]


@pytest.mark.slow
def test_posttrain_steps_then_relaunch_is_a_no_op(base, tmp_path):
    run = tmp_path / "run"
    settings = settings_job.check_posttrain_parameters(
        base=base["checkpoints"], tokenizer=base["tokenizer"], run_root=str(run), **TINY
    )
    folders = _steps(settings)
    # No constitutional data and no preference pairs: those steps do nothing, and DPO passes
    # the SFT model on to evaluation.
    assert folders == [str(run / "synth" / "identity"), str(run / "synth" / "docstrings"),
                       str(run / "mid"), str(run / "sft"), str(run / "sft" / "eval"),
                       str(run / "report"), "", str(run / "sft")]  # fmt: skip
    folders = folders[:6]
    assert not (run / "dpo").exists()
    mid, tuned = MID_MANIFEST.require(folders[2]), SFT_MANIFEST.require(folders[3])
    assert mid.inputs.init == base["checkpoints"] and mid.counts.steps == 3
    assert tuned.inputs.init == folders[2] and tuned.counts.steps == 3
    assert mid.extra.phase == "mid" and tuned.extra.phase == "sft"
    data = SFT_DATA_MANIFEST.require(str(run / "sft" / "data"))
    assert data.inputs.sources == {"identity": folders[0], "docstrings": folders[1]}
    results = json.loads((run / "sft" / "eval" / "results.json").read_text())
    assert "humaneval" in results["tasks"]
    assert "Post-training" in (run / "report" / "report.md").read_text()
    stamps = _stamps(folders)

    # A relaunch: every step finds its manifest and no manifest is rewritten.
    assert _steps(settings)[:6] == folders
    assert _stamps(folders) == stamps


PAIRS = [
    {"prompt": "Who are you?", "chosen": "I am Tritter, a ternary-weight code model.",
     "rejected": "I am a human engineer named Bob."},
    {"prompt": "Are you human?", "chosen": "No. I am Tritter, a language model.",
     "rejected": "Yes, I am a person typing these answers."},
    {"prompt": [{"role": "user", "content": "Print hello in Python."}],
     "chosen": "print('hello')", "rejected": "I cannot help with that."},
]  # fmt: skip


@pytest.mark.slow
def test_constitutional_data_and_dpo_steps(base, tmp_path):
    """constitutional_count > 0 runs generate → critique → revise → filter from the base; given
    preference pairs make DPO run from the SFT model, evaluated into dpo/eval and reported."""
    run = tmp_path / "run"
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in PAIRS * 4))
    tiny = {**TINY, "constitutional_count": 4, "preference_pairs": f"hand={pairs}",
            "dpo_max_steps": 2}  # fmt: skip
    settings = settings_job.check_posttrain_parameters(
        base=base["checkpoints"], tokenizer=base["tokenizer"], run_root=str(run), **tiny
    )
    folders = _steps(settings)
    generated, final, evaluated = folders[6], folders[7], folders[4]
    assert generated == str(run / "synth" / "generated")
    for part in ("synth/generated", "synth/critiques", "synth/pairs", "synth/filtered"):
        assert manifest.read_manifest(str(run / part)) is not None, part
    assert final == str(run / "dpo") and evaluated == str(run / "dpo" / "eval")
    trained = DPO_MANIFEST.require(final)
    assert trained.inputs.init == str(run / "sft") and trained.counts.steps == 2
    records = [
        json.loads(line) for line in (run / "dpo" / "metrics.jsonl").read_text().splitlines()
    ]
    train = [r for r in records if r["kind"] == "train"]
    assert train and {"reward_accuracy", "reward_margin"} <= set(train[0])
    assert "humaneval" in json.loads((run / "dpo" / "eval" / "results.json").read_text())["tasks"]
    report = (run / "report" / "report.md").read_text()
    assert "dpo" in report[report.index("## Post-training") :]


@pytest.mark.slow
def test_rl_step_trains_the_final_model(base, tmp_path):
    """rl_prompts given: RL runs from the model so far (SFT's here: no pairs), the RL model is
    evaluated into rl/eval and reported."""
    run = tmp_path / "run"
    tiny = {**TINY, "rl_prompts": "builtin:arithmetic", "rl_reward": "format_number",
            "rl_max_steps": 2, "rl_samples_per_prompt": 2}  # fmt: skip
    settings = settings_job.check_posttrain_parameters(
        base=base["checkpoints"], tokenizer=base["tokenizer"], run_root=str(run), **tiny
    )
    folders = _steps(settings)
    final, evaluated = folders[7], folders[4]
    assert final == str(run / "rl") and evaluated == str(run / "rl" / "eval")
    trained = RL_MANIFEST.require(final)
    assert trained.inputs.init == str(run / "sft") and trained.counts.steps == 2
    assert trained.counts.completions == 2 * 4  # micro batch 4 = 2 prompts x 2 samples
    assert trained.config["reward"] == "format_number"
    assert RL_DATA_MANIFEST.require(str(run / "rl" / "data")).counts.kept == 512
    records = [json.loads(line) for line in (run / "rl" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert {"reward_mean", "pass_rate", "completion_tokens", "tool_calls"} <= set(train[0])
    assert "humaneval" in json.loads((run / "rl" / "eval" / "results.json").read_text())["tasks"]
    report = (run / "report" / "report.md").read_text()
    section = report[report.index("## Post-training") :]
    assert "| rl | 2 | " in section and "rl: reward mean" in section and "(rl/eval/)" in section
    # A relaunch finds every manifest.
    stamp = Path(manifest.manifest_uri(final)).stat().st_mtime_ns
    assert _steps(settings)[7] == final
    assert Path(manifest.manifest_uri(final)).stat().st_mtime_ns == stamp


def test_rl_job_takes_its_parameters(artifacts, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(artifacts.tokenizer, base / "tokenizer")  # the check loads it
    (base / "checkpoints").mkdir()
    (base / "checkpoints" / "config.yaml").write_text("{}")
    values = dict(base=str(base / "checkpoints"), run_root=str(base))
    settings = settings_job.check_posttrain_parameters(**values)
    assert rl_job.rl(settings, str(base / "dpo")) == str(base / "dpo")  # no prompts: passed on
    assert not (base / "rl").exists()
    settings = settings_job.check_posttrain_parameters(
        **values, rl_prompts="s3://b/tasks.jsonl", rl_reward="unit_tests", rl_max_steps=50,
        rl_samples_per_prompt=4, rl_lr=1e-5,
    )  # fmt: skip
    params = settings_job.prepare_posttrain(settings)
    spec = rl_job.job_spec(params, str(base / "dpo"), "kubernetes")
    command = spec.command()
    assert command[:2] == ["tritter", "rl"] and "--data" not in command
    for flag, value in (("--prompts", "s3://b/tasks.jsonl"), ("--reward", "unit_tests"),
                        ("--samples-per-prompt", "4"), ("--max-steps", "50"),
                        ("--optim.lr", "1e-05"), ("--init", str(base / "dpo")),
                        ("--output", str(base / "rl")),
                        ("--tokenizer", str(base / "tokenizer"))):  # fmt: skip
        assert command[command.index(flag) + 1] == value, flag
    assert spec.name.endswith("-rl")
    validate(build_job(spec))
    assert rl_job.stage_of(str(base / "rl")) == "rl" and rl_job.stage_of("s3://b/r/dpo") == "dpo"
    # Prompt rows that cannot be there are named before any work.
    for prompts, message in ((str(tmp_path / "none.jsonl"), "none.jsonl: not found"),
                             ("builtin:nothing", "unknown built-in prompt set")):  # fmt: skip
        with pytest.raises(TritterError, match=f"pipeline parameter 'rl_prompts': .*{message}"):
            settings_job.check_posttrain_parameters(**values, rl_prompts=prompts)


def test_given_conversations_replace_the_docstring_set(artifacts, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(artifacts.tokenizer, base / "tokenizer")  # the check loads it
    (base / "checkpoints").mkdir()
    (base / "checkpoints" / "config.yaml").write_text("{}")
    settings = settings_job.check_posttrain_parameters(
        base=str(base / "checkpoints"), run_root=str(base), conversations="chats=s3://b/chats"
    )
    assert synth_job.docstrings(settings) == ""
    assert not (base / "synth" / "docstrings").exists()
    params = settings_job.prepare_posttrain(settings)
    assert sft_job.sources(params) == {
        "identity": str(base / "synth" / "identity"),
        "chats": "s3://b/chats",
    }
    spec = sft_job.job_spec(params, "sft", str(base / "mid"), "kubernetes")
    command = spec.command()
    assert command[:4] == ["tritter", "sft", "--phase", "sft"]
    assert command[command.index("--init") + 1] == str(base / "mid")
    assert command[command.index("--tokenizer") + 1] == str(base / "tokenizer")
    assert command[command.index("--optim.lr") + 1] == "0.0001"
    assert "--max-steps" not in command  # 0: one pass over the conversations
    validate(build_job(spec))


def test_missing_base_or_tokenizer_is_named_before_any_work(tmp_path):
    with pytest.raises(TritterError, match="pipeline parameter 'base': nothing at"):
        settings_job.check_posttrain_parameters(
            base=str(tmp_path / "none"), run_root=str(tmp_path / "run")
        )
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "config.yaml").write_text("{}")
    with pytest.raises(TritterError, match=r"pipeline parameter 'tokenizer': .*tokenizer\.model"
                       r": tokenizer model not found"):  # fmt: skip
        settings_job.check_posttrain_parameters(
            base=str(tmp_path / "checkpoints"), run_root=str(tmp_path / "run")
        )
    # A Hugging Face tokenizer imported without the chat markers: named before any work.
    plain = build_hf_tokenizer(tmp_path / "plain")
    with pytest.raises(TritterError, match=r"pipeline parameter 'tokenizer': .*tokenizer has no "
                       r"<\|system_start\|>.*tritter tokenizer import"):  # fmt: skip
        settings_job.check_posttrain_parameters(
            base=str(tmp_path / "checkpoints"), tokenizer=str(plain), run_root=str(tmp_path / "run")
        )
    assert not (tmp_path / "run").exists()
