"""MultiPL-E Rust and DS-1000 against known answers, through the real harness: the programs the
tasks build, run in the evaluation sandbox (Rust compiled there by rustc). References pass at
their known rate; broken completions — wrong, panicking, exiting early, not compiling — all fail,
and a program rustc rejects is recorded as `compile_error`.

rustc is a real part: on a machine without it these tests skip naming the Debian package, under
CI they fail (`tests.support.real_parts`)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.real_parts import need
from tritter.errors import TritterError
from tritter.evaluate import ds1000, multipl_e, rust
from tritter.evaluate.config import Ds1000Config, RustConfig, SandboxConfig
from tritter.evaluate.execution import check_completions, score
from tritter.evaluate.known_answers import (
    DS1000_BROKEN,
    RUST_BROKEN,
    SAMPLE_REFERENCE_PASSES,
    check_broken,
    check_references,
)

SANDBOX = SandboxConfig(workers=2)


def rust_available() -> None:
    try:
        rust.find_toolchain()
    except TritterError as err:
        need(False, f"{err} (Debian package rustc)")


@pytest.fixture(scope="module")
def rust_task():
    rust_available()
    box, runner = rust.open_runner(SANDBOX, RustConfig())
    return box, dataclasses.replace(multipl_e.load_task(), runner=runner)


@pytest.fixture(scope="module")
def ds_task():
    return ds1000.open_task(ds1000.load_task().problems, SANDBOX, Ds1000Config())


def test_rust_references_compile_and_pass_in_the_sandbox(rust_task):
    box, task = rust_task
    assert box.config.memory_mb == 2048 and box.config.max_processes == 32  # the Rust limits
    results = check_references(task, box)
    assert {r.task_id: r.reason for r in results if not r.passed} == {}
    assert score(results, [1])["pass@1"] == 1.0
    assert len(results) == SAMPLE_REFERENCE_PASSES["multipl-e-rust"]


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("panics", "failed", "RunError: exit status 101: thread 'main'"),
        ("does_not_compile", "compile_error", "CompileError: error[E0308]: mismatched types"),
        ("exits_early", "failed", "RunError: exit status 0 before the end of main"),
    ],
)
def test_broken_rust_completions_fail(rust_task, kind, status, reason):
    box, task = rust_task
    results = check_broken(task, box, kind, RUST_BROKEN)
    assert [r.task_id for r in results if r.passed] == []
    assert {r.status for r in results} == {status}
    assert all(r.reason.startswith(reason) for r in results), {r.reason for r in results}
    metrics = score(results, [1])
    assert metrics["pass@1"] == 0.0 and metrics["status"] == {status: len(task.problems)}


def test_wrong_rust_answers_fail_and_a_chat_reply_with_the_whole_function_passes(rust_task):
    box, task = rust_task
    gcd = next(p for p in task.problems if p.entry_point == "gcd")
    counts = next(p for p in task.problems if p.entry_point == "letter_counts")
    reply = (
        "Here it is:\n```rust\nfn gcd(a: isize, b: isize) -> isize {\n"
        "    if b == 0 { a } else { gcd(b, a % b) }\n}\n```\nIt recurses."
    )
    # The reply repeats no `use`: the prompt's HashMap import is put back.
    counts_reply = (
        "```rust\nfn letter_counts(word: String) -> HashMap<char, isize> {\n"
        "    let mut m = HashMap::new();\n"
        "    for c in word.chars() { *m.entry(c).or_insert(0) += 1; }\n    m\n}\n```"
    )
    completions = {
        gcd.task_id: ["    a + b", task.extract(reply), "    a.max(b)"],
        counts.task_id: [task.extract(counts_reply)],
    }
    results = check_completions(task, completions, box)
    assert [(r.task_id, r.passed) for r in results] == [
        (gcd.task_id, False), (gcd.task_id, True), (gcd.task_id, False), (counts.task_id, True),
    ]  # fmt: skip
    assert results[0].reason.startswith("RunError: exit status 101")
    assert "left: 30" in results[0].reason  # the failed assert_eq!'s values (12 + 18)
    assert task.source(gcd, task.extract(reply)).startswith("fn gcd(")


def test_a_missing_rustc_is_one_line_naming_the_tool(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(TritterError) as raised:
        rust.open_runner(SANDBOX, RustConfig())
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("multipl-e-rust needs rustc: not found on PATH or in ~/.cargo/bin")


def test_a_toolchain_that_cannot_work_in_the_sandbox_is_one_line(rust_task):
    # Too small an address space for rustc: the probe before the model loads says so.
    with pytest.raises(TritterError, match="cannot build and run a program in the sandbox"):
        rust.open_runner(SANDBOX, RustConfig(memory_mb=256, max_processes=4))


def test_ds1000_references_pass_and_missing_libraries_are_skipped(ds_task):
    box, task = ds_task
    assert box.config.memory_mb == 2048 and box.config.timeout_seconds == 60
    skipped = task.skipped
    assert len(task.problems) + skipped["problems"] == 8
    try:
        import sklearn  # noqa: F401

        expected_skips = {}
    except ImportError:
        expected_skips = {"Sklearn": 1}
    assert skipped["libraries"] == expected_skips
    results = check_references(task, box)
    assert {r.task_id: r.reason for r in results if not r.passed} == {}
    assert score(results, [1])["pass@1"] == 1.0


def test_a_problem_needing_an_absent_module_is_skipped_not_failed():
    full = ds1000.load_task().problems[0]
    needs = dataclasses.replace(
        full, task_id="x", test="import tritter_no_such_module\n" + full.test
    )
    _, task = ds1000.open_task([full, needs], SANDBOX, Ds1000Config())
    assert [p.task_id for p in task.problems] == [full.task_id]
    assert task.skipped == {"problems": 1, "libraries": {"Numpy": 1},
                            "missing_modules": {"tritter_no_such_module": 1}}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(DS1000_BROKEN))
def test_broken_ds1000_completions_fail(ds_task, kind):
    box, task = ds_task
    task = dataclasses.replace(task, problems=task.problems[:3])
    results = check_broken(task, box, kind, DS1000_BROKEN)
    assert [r.task_id for r in results if r.passed] == []
    expected = {
        "raises": "NotImplementedError", "unparsable": "SyntaxError",
        "exits_cleanly": "SystemExit: 0", "exits_hard": "exited with code 0",
    }[kind]  # fmt: skip
    assert all(expected in r.reason for r in results), {r.reason for r in results}


def test_ds1000_completions_are_cleaned_as_its_harness_does():
    assert ds1000.postprocess("result = a.shape\n</code>\nEND SOLUTION") == "result = a.shape\n"
    assert ds1000.postprocess("```python\nresult = 1\n```\nmore") == "result = 1\n"
    assert ds1000.postprocess("<code>result = 2\n# SOLUTION END\nx") == "result = 2\n"
