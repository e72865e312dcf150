"""`tritter rl` end to end on CPU with a fresh `tiny` model: the reward rises, failing rewards
are contained and counted, user rewards load from PYTHONPATH, bad input is one line before
anything is written, and a run killed mid-way resumes to exactly the uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.rl.conftest import REWARDS_MODULE, rl_args, run_rl, train_records, write_rows
from tritter import cli
from tritter.run_folder import RL_DATA_MANIFEST, RL_MANIFEST

STEP_METRICS = ("reward_mean", "reward_std", "pass_rate", "completion_tokens", "tool_calls",
                "reward_errors", "clip_fraction")  # fmt: skip


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_the_reward_rises(rl_base, tmp_path):
    """format_number (the reply starts with a number) on the shipped arithmetic prompts: a fresh
    model starts near 5 % and learns to answer with a digit first within a few dozen steps."""
    output = str(tmp_path / "rl")
    args = ("--reward", "format_number", "--max-steps", "40", "--checkpoint-every", "40")
    done = run_rl(*rl_args(rl_base, "builtin:arithmetic", output, *args))
    assert done.returncode == 0, done.stderr[-3000:]
    found = train_records(output)
    assert [r["step"] for r in found] == list(range(1, 41))
    for record in found:
        assert set(STEP_METRICS) <= set(record), record
        assert record["completion_tokens"] <= 8 and record["tool_calls"] == 0
        assert record["reward_errors"] == 0 and record["clip_fraction"] == 0  # one update each
    first = mean([r["reward_mean"] for r in found[:10]])
    last = mean([r["reward_mean"] for r in found[-10:]])
    assert first < 0.2 and last > first + 0.3, (first, last)
    assert all(r["pass_rate"] == r["reward_mean"] for r in found)  # 0/1 rewards
    trained = RL_MANIFEST.require(output)
    assert trained.stage == "rl" and trained.extra.phase == "rl" and trained.counts.steps == 40
    assert trained.counts.prompts == 160 and trained.counts.completions == 1280
    assert trained.counts.reward_errors == {"raised": 0, "timeout": 0, "invalid": 0}
    assert trained.counts.completion_tokens == round(
        sum(r["completion_tokens"] * 32 for r in found)
    )
    data = RL_DATA_MANIFEST.require(f"{output}/data")
    assert data.counts.rows == data.counts.kept == 512 and data.counts.dropped == {}
    assert json.loads((Path(output) / "final" / "tritter.json").read_text())["phase"] == "rl"
    assert "rl: trained 40 steps (1,280 completions, 0 reward errors)" in done.stdout


def test_failing_rewards_score_zero_and_are_counted(rl_base, tmp_path):
    """A user reward that raises, hangs, or returns something that is not a number: the run
    finishes, those completions score 0, and every failure is counted by kind."""
    modes = ("raise", "hang", "garbage", "nan", "ok")
    rows = [{"prompt": f"Say something ({mode}).", "mode": mode} for mode in modes]
    prompts = write_rows(tmp_path / "modes.jsonl", rows)
    output = str(tmp_path / "rl")
    done = run_rl(
        *rl_args(rl_base, prompts, output, "--reward", f"{REWARDS_MODULE}:by_mode",
                 "--samples-per-prompt", "2", "--micro-batch-size", "10", "--max-steps", "2",
                 "--reward-timeout", "1"),
        env={"PYTHONPATH": rl_base["rewards"]},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for record in train_records(output):  # each step: every mode twice
        assert record["reward_errors"] == 8
        assert record["reward_mean"] == record["pass_rate"] == 0.2
    counts = RL_MANIFEST.require(output).counts
    assert counts.reward_errors == {"raised": 4, "timeout": 4, "invalid": 8}
    assert counts.completions == 20 and counts.passed == 4
    examples = {"raised": "ValueError: this reward is broken", "timeout": "took more than 1s",
                "invalid": "returned str"}  # fmt: skip
    for kind, example in examples.items():
        assert f"kind={kind}" in done.stderr and example in done.stderr


def test_user_reward_from_pythonpath(rl_base, tmp_path):
    output = str(tmp_path / "rl")
    done = run_rl(*rl_args(rl_base, "builtin:arithmetic", output, "--reward",
                                f"{REWARDS_MODULE}:starts_with_seven", "--max-steps", "2"),
                       env={"PYTHONPATH": rl_base["rewards"]})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(train_records(output)) == 2
    assert RL_MANIFEST.require(output).config["reward"] == f"{REWARDS_MODULE}:starts_with_seven"


def test_bad_input_is_one_line_before_anything_is_written(rl_base, tmp_path, capsys, monkeypatch):
    """Unknown rewards, rewards that do not import, malformed prompt rows: exit 1 with one
    `tritter: error:` line naming the reward or the row and field, and no output folder. The
    first two cases run the real command; the rest call it in this process (the same code path
    without the interpreter's start-up)."""
    good = "builtin:arithmetic"
    rows = write_rows(tmp_path / "rows.jsonl", [{"prompt": "What is 1 + 1?", "answer": 2},
                                                {"prompt": "And 2 + 2?"}])  # fmt: skip
    odd = write_rows(tmp_path / "odd.jsonl", [{"prompt": 7}])
    messages = write_rows(tmp_path / "messages.jsonl", [
        {"prompt": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    ])  # fmt: skip
    broken = write_rows(tmp_path / "broken.jsonl", ["{not json"])
    cases = [
        (good, "nope", "unknown reward (built-in: format_code, format_number, numeric, "
                       "unit_tests; or module:function"),
        (rows, "numeric", "rows.jsonl:2: 'answer' is missing (the reward reads it)"),
        (good, "no_such_module_here:f", "cannot import module 'no_such_module_here'"),
        (good, f"{REWARDS_MODULE}:absent", f"module '{REWARDS_MODULE}' has no function 'absent'"),
        (odd, "numeric", "odd.jsonl:1: 'prompt': expected text or a list of messages, got int"),
        (messages, "format_code", "messages.jsonl:1: 'prompt': ends with the assistant's turn"),
        (broken, "format_code", "broken.jsonl:1: not JSON"),
        ("builtin:nothing", "numeric", "unknown built-in prompt set (known: builtin:arithmetic)"),
    ]  # fmt: skip
    monkeypatch.setenv("PYTHONPATH", rl_base["rewards"])  # the reward workers' (in-process runs)
    for number, (prompts, reward, message) in enumerate(cases):
        output = tmp_path / f"out{number}"
        args = rl_args(rl_base, prompts, str(output), "--reward", reward, "--max-steps", "1")
        if number < 2:
            done = run_rl(*args, env={"PYTHONPATH": rl_base["rewards"]})
            code, lines = done.returncode, done.stderr.strip().splitlines()
        else:  # the test process's logging may show records too: the error line is the last
            code, lines = cli.main(args), capsys.readouterr().err.strip().splitlines()[-1:]
        err = "\n".join(lines)
        assert code == 1, (reward, err[-2000:])
        assert len(lines) == 1 and lines[0].startswith("tritter: error: "), err
        assert message in lines[0], lines[0]
        assert not output.exists(), number


def test_sigkill_then_relaunch_continues_exactly(rl_base, tmp_path):
    """Killed while saving step 6 (checkpoint at 3), relaunched: the same prompts, samples,
    rewards and losses as a run never interrupted — with --ppo-epochs 2, so the checkpoint at
    step 3 also holds the rollouts that step 4 trains on again."""
    args = ("--reward", "format_number", "--samples-per-prompt", "4", "--micro-batch-size", "8",
            "--max-steps", "6", "--checkpoint-every", "3", "--ppo-epochs", "2")  # fmt: skip
    whole = str(tmp_path / "whole")
    done = run_rl(*rl_args(rl_base, "builtin:arithmetic", whole, *args))
    assert done.returncode == 0, done.stderr[-3000:]
    crashy = str(tmp_path / "crashy")
    # Killed while saving the last step: that save first waits for step 3's commit,
    # so the relaunch resumes from step 3 however slow the machine is.
    first = run_rl(*rl_args(rl_base, "builtin:arithmetic", crashy, *args),
                        env={"TRITTER_FAULT": "kill:rank=0:step=6:phase=commit"})  # fmt: skip
    assert first.returncode != 0
    second = run_rl(*rl_args(rl_base, "builtin:arithmetic", crashy, *args))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from checkpoint step=3" in second.stderr
    keys = ("loss", "grad_norm", *STEP_METRICS)
    expected = [[r[k] for k in keys] for r in train_records(whole)]
    assert [[r[k] for k in keys] for r in train_records(crashy)] == expected
    # Rollouts are reused: steps 2, 4 and 6 train again on their predecessor's completions,
    # against the log-probabilities of the weights that sampled them.
    rewards = [r["reward_mean"] for r in train_records(whole)]
    assert rewards[0::2] == rewards[1::2]
    assert RL_MANIFEST.require(crashy).counts == RL_MANIFEST.require(whole).counts
