"""The built-in rewards scored the way training scores them — through `RewardRunner`'s worker
processes, `unit_tests` in the real sandbox — the containment of failing user rewards, and the
prompt rows' checks (decontamination against the evaluation problems, too-long prompts)."""

from __future__ import annotations

import json
import time

import pytest

from tests.rl.conftest import REWARDS_MODULE, write_rows
from tritter.benchmarks import MBPP_TEST_IDS, load_humaneval, load_mbpp
from tritter.errors import TritterError
from tritter.rl import arithmetic
from tritter.rl.data import DataSettings, load_rows, prepare
from tritter.rl.rewards import expected_answer, final_answer, unit_test_program
from tritter.rl.runner import Call, RewardRunner
from tritter.run_folder import RL_DATA_MANIFEST
from tritter.tokenizer import Tokenizer

ADD_ROW = {"prompt": "Write add(a, b).", "test": "assert add(2, 3) == 5\nassert add(-1, 1) == 0"}
HUMANEVAL_ROW = {
    "prompt": "Write twice(x).",
    "test": "def check(candidate):\n    assert candidate(4) == 8\n",
    "entry_point": "twice",
}
GOOD = "<|code_start|>def add(a, b):\n    return a + b<|code_end|>"
HOSTILE = {
    "wrong": "```python\ndef add(a, b):\n    return a - b\n```",
    "no code at all": "I would rather not.",
    "loops forever": "```python\ndef add(a, b):\n    while True:\n        pass\n```",
    "exits before the tests": "```python\nimport sys\ndef add(a, b):\n    pass\nsys.exit(0)\n```",
    "kills its parent": "```python\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n```",
    "forks and sleeps": "```python\nimport os, time\nos.fork()\ntime.sleep(60)\n```",
}


def score(spec: str, calls: list[Call], timeout: float = 60.0, **sandbox) -> list:
    runner = RewardRunner(spec, timeout, workers=2, sandbox=sandbox)
    try:
        return runner.score(calls)
    finally:
        runner.close()


def test_unit_tests_pass_only_a_correct_program():
    calls = [
        Call("Write add(a, b).", GOOD, ADD_ROW),
        Call(
            "Write add(a, b).", "Here:\n```python\ndef add(a, b):\n    return b + a\n```", ADD_ROW
        ),
        Call("Write twice(x).", "```py\ndef twice(x):\n    return 2 * x\n```", HUMANEVAL_ROW),
        *(Call("Write add(a, b).", reply, ADD_ROW) for reply in HOSTILE.values()),
    ]
    started = time.monotonic()
    found = score("unit_tests", calls, timeout_seconds=3)
    assert [s.value for s in found[:3]] == [1.0, 1.0, 1.0]
    for name, result in zip(HOSTILE, found[3:], strict=True):
        assert result.value == 0.0 and result.error is None, name
    assert time.monotonic() - started < 45  # the sandbox's limits, not the reward's timeout
    program = unit_test_program("```python\nx = 1\n```", {**HUMANEVAL_ROW, "test_setup": "y = 2"})
    assert program.startswith("y = 2\nx = 1\n") and program.endswith("check(twice)\n")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("The answer is 42.", 42.0),
        ("Half of 3 is 1.5, so 1.5", 1.5),
        ("We get 12 apples and 30 pears. #### 1,234", 1234.0),
        ("So the result is \\boxed{-7} (checked with 3 steps)", -7.0),
        ("<|code_start|>print(6 * 7)<|code_end|><|output_start|>42\n<|output_end|>It is 41.", 41.0),
        ("<|code_start|>print(6 * 7)<|code_end|><|output_start|>42\n<|output_end|>", None),
        ("No idea.", None),
    ],
)
def test_final_answers(reply, expected):
    assert final_answer(reply) == expected


def test_numeric_reward_compares_final_answers():
    row = {"prompt": "What is six times seven?", "answer": "Six sevens. #### 42"}
    assert expected_answer(row["answer"]) == 42.0 and expected_answer(7) == 7.0
    replies = ["42", "It is 42.0.", "forty-two", "42 or 43? 43", "#### 42"]
    found = score("numeric", [Call(row["prompt"], reply, row) for reply in replies])
    assert [s.value for s in found] == [1.0, 1.0, 0.0, 0.0, 1.0]
    found = score("format_number", [Call("q", r, {}) for r in (" 7 apples", "seven", "-3")])
    assert [s.value for s in found] == [1.0, 0.0, 1.0]
    code = ["<|code_start|>print(1)<|code_end|>", "```python\nprint(1)\n```", "print(1)"]
    assert [s.value for s in score("format_code", [Call("q", r, {}) for r in code])] == [1, 1, 0]


def test_failing_user_rewards_are_contained(rl_base, monkeypatch):
    monkeypatch.syspath_prepend(rl_base["rewards"])
    monkeypatch.setenv("PYTHONPATH", rl_base["rewards"])
    modes = ["ok", "raise", "hang", "garbage", "nan", "ok", "hang"]
    calls = [Call("q", "a", {"mode": mode}) for mode in modes]
    runner = RewardRunner(f"{REWARDS_MODULE}:by_mode", timeout=0.5, workers=2)
    started = time.monotonic()
    try:
        found = runner.score(calls)
        again = runner.score(calls[:1])  # a worker after the kills still scores
    finally:
        runner.close()
    assert time.monotonic() - started < 20
    assert [s.value for s in found] == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert [s.error for s in found] == [None, "raised", "timeout", "invalid", "invalid", None,
                                        "timeout"]  # fmt: skip
    assert again[0].value == 1.0
    assert runner.errors == {"raised": 1, "timeout": 2, "invalid": 2}
    with pytest.raises(TritterError, match="cannot import module 'nowhere_to_be_found'"):
        RewardRunner("nowhere_to_be_found:f", timeout=5).check()


def test_evaluation_problems_are_dropped_and_counted(rl_base, tmp_path):
    humaneval = load_humaneval()[3]
    mbpp_test = load_mbpp(task_ids=MBPP_TEST_IDS)[5]
    mbpp_train = load_mbpp(task_ids=range(601, 975))[0]
    rows = [
        {"prompt": "Write add(a, b).", "test": ADD_ROW["test"]},
        {"prompt": humaneval.prompt, "test": humaneval.test},  # the HumanEval prompt itself
        {"prompt": mbpp_test.description, "test": "assert True"},  # an MBPP test description
        {"prompt": "Solve it.", "test": mbpp_test.tests[1]},  # one of its asserts
        {"prompt": mbpp_train.description, "test": "\n".join(mbpp_train.tests)},  # train: kept
        {"prompt": "word " * 1100, "test": "assert True"},  # leaves no room in 1024 tokens
    ]
    source = write_rows(tmp_path / "tasks.jsonl", rows)
    tokenizer = Tokenizer.load(rl_base["tokenizer"])
    settings = DataSettings(seq_len=1024, reward="unit_tests", required_fields=["test"])
    output = str(tmp_path / "data")
    done = prepare(source, settings, tokenizer, output)
    assert done.counts.rows == 6 and done.counts.kept == 2
    assert done.counts.dropped == {"contaminated:humaneval": 1, "contaminated:mbpp": 2,
                                   "too_long": 1}  # fmt: skip
    kept = load_rows(output)
    assert [r.text for r in kept] == ["Write add(a, b).", mbpp_train.description]
    assert kept[0].to_row()["prompt"] == [{"role": "user", "content": "Write add(a, b)."}]
    assert RL_DATA_MANIFEST.require(output).extra.required_fields == ["test"]
    # The same inputs again: found done, not rewritten.
    stamp = (tmp_path / "data" / "_manifest.json").stat().st_mtime_ns
    prepare(source, settings, tokenizer, output)
    assert (tmp_path / "data" / "_manifest.json").stat().st_mtime_ns == stamp
    only_bad = write_rows(tmp_path / "bad.jsonl", rows[1:4])
    with pytest.raises(TritterError, match=r"no prompt row is left to train on \(dropped: "):
        prepare(only_bad, settings, tokenizer, str(tmp_path / "none"))


def test_the_shipped_arithmetic_set_is_its_generator_output():
    assert arithmetic.FILE.read_text(encoding="utf-8") == arithmetic.text()
    rows = [json.loads(line) for line in arithmetic.text().splitlines()]
    assert len(rows) == arithmetic.SIZE == len({r["prompt"] for r in rows})
    assert rows[7] == {"id": "arithmetic-0007", "prompt": "Write seven in digits.", "answer": 7,
                       "source": "tritter-rl-arithmetic", "license": "apache-2.0"}  # fmt: skip
    assert all(r["answer"] >= 0 for r in rows)
