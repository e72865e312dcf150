"""The harness against known answers: reference solutions pass at their known rate, broken
completions never pass. Runs the whole HumanEval set and the MBPP test split."""

from __future__ import annotations

import pytest

from tritter.evaluate.config import SandboxConfig
from tritter.evaluate.execution import score
from tritter.evaluate.known_answers import BROKEN, REFERENCE_PASSES, check_broken, check_references
from tritter.evaluate.sandbox import Sandbox
from tritter.evaluate.tasks import CodeTask, load_task


@pytest.fixture(scope="module")
def sandbox():
    # Generous wall limit: MBPP 123's reference needs ~4 s of CPU and CI machines are shared.
    return Sandbox(SandboxConfig(workers=2, timeout_seconds=30))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["humaneval", "mbpp"])
def test_reference_solutions_score_their_known_pass_count(sandbox, name):
    task = load_task(name)
    assert len(task.problems) == {"humaneval": 164, "mbpp": 500}[name]
    results = check_references(task, sandbox)
    failures = {r.task_id: r.reason for r in results if not r.passed}
    assert failures == {}
    metrics = score(results, [1])
    assert metrics["passed_samples"] == REFERENCE_PASSES[name]
    assert metrics["pass@1"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["humaneval", "mbpp"])
def test_completions_that_raise_score_zero_on_every_problem(sandbox, name):
    task = load_task(name)
    results = check_broken(task, sandbox, "raises")
    assert len(results) == len(task.problems)
    assert [r.task_id for r in results if r.passed] == []
    assert score(results, [1])["pass@1"] == 0.0


@pytest.mark.parametrize("kind", sorted(set(BROKEN) - {"raises"}))
@pytest.mark.parametrize("name", ["humaneval", "mbpp"])
def test_other_broken_completions_score_zero(sandbox, name, kind):
    full = load_task(name)
    # Every 8th problem: the failure modes are per-harness, not per-problem.
    task = CodeTask(full.name, full.problems[::8], full.stop)
    results = check_broken(task, sandbox, kind)
    assert [r.task_id for r in results if r.passed] == []
    expected = {"unparsable": "SyntaxError", "exits_cleanly": "SystemExit: 0",
                "exits_hard": "exited with code 0"}[kind]  # fmt: skip
    assert all(expected in r.reason for r in results), {r.reason for r in results}
