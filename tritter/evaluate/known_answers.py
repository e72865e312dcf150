"""Known answers that check the harness itself (prompt + completion + tests + sandbox).

A harness that silently scores everything 0 (a broken sandbox, an import that fails after the
privilege drop) or everything 1 (a swallowed exit) looks like a bad or a great model. So:
the benchmarks' own reference solutions must pass at their known rate, and completions broken in
each way a model's can be (raises, does not parse, exits early with status 0) must all fail.

Measured on this harness (CPython 3.11, 10 s limit): HumanEval 164/164; MBPP 974/974, so the test
split (task_ids 11–510) scores 500/500. One reference is slow: MBPP task 123 (sum of amicable
numbers below 10,000 by trial division) needs ~3.7 s of CPU, so it fails under the 3 s timeout
some harnesses use; on a loaded machine give the reference check a generous limit.
"""

from __future__ import annotations

from collections.abc import Callable

from tritter.benchmarks import Problem
from tritter.evaluate.execution import SampleResult, check_completions
from tritter.evaluate.sandbox import Sandbox
from tritter.evaluate.tasks import CodeTask

REFERENCE_PASSES = {"humaneval": 164, "mbpp": 500}
SLOW_REFERENCES = {"mbpp": {"123": "sums amicable numbers below 10,000; ~3.7 s CPU"}}
# The shipped samples (tritter/benchmarks/*-sample.jsonl): every reference passes — MultiPL-E's
# 12 Rust bodies compiled with rustc 1.95 (and any rustc that knows edition 2021), DS-1000's 8
# solutions with numpy 2.4, pandas 3.1, scipy and scikit-learn 1.8 (its scikit-learn problem is
# skipped where scikit-learn does not import).
SAMPLE_REFERENCE_PASSES = {"multipl-e-rust": 12, "ds1000": 8}


def _raises(task: CodeTask, problem: Problem) -> str:
    if task.name == "humaneval":
        return "    raise NotImplementedError\n"
    return f"def {problem.entry_point}(*args, **kwargs):\n    raise NotImplementedError\n"


def _unparsable(task: CodeTask, problem: Problem) -> str:
    return "    return (\n" if task.name == "humaneval" else f"def {problem.entry_point}(:\n"


def _exits_cleanly(task: CodeTask, problem: Problem) -> str:
    """The reference, then `sys.exit(0)` before the tests run: must not count as a pass."""
    return f"{task.reference(problem)}\nimport sys\nsys.exit(0)\n"


def _exits_hard(task: CodeTask, problem: Problem) -> str:
    """Same with os._exit(0), which skips every Python-level handler."""
    return f"{task.reference(problem)}\nimport os\nos._exit(0)\n"


BROKEN: dict[str, Callable[[CodeTask, Problem], str]] = {
    "raises": _raises,
    "unparsable": _unparsable,
    "exits_cleanly": _exits_cleanly,
    "exits_hard": _exits_hard,
}


# MultiPL-E Rust: completions are function bodies.
RUST_BROKEN: dict[str, Callable[[CodeTask, Problem], str]] = {
    "panics": lambda task, problem: '    panic!("not implemented")',
    # A type error whatever the function returns: rustc rejects it (status compile_error).
    "does_not_compile": lambda task, problem: '    let answer: u8 = "text";\n    answer',
    # Exits 0 the first time the test calls it, before any assert ran: must not pass.
    "exits_early": lambda task, problem: "    std::process::exit(0)",
}

# DS-1000: completions are the code that goes where the solution goes.
DS1000_BROKEN: dict[str, Callable[[CodeTask, Problem], str]] = {
    "raises": lambda task, problem: "raise NotImplementedError\n",
    "unparsable": lambda task, problem: "result = (\n",
    "exits_cleanly": lambda task, problem: f"{task.reference(problem)}\nimport sys\nsys.exit(0)\n",
    "exits_hard": lambda task, problem: f"{task.reference(problem)}\nimport os\nos._exit(0)\n",
}


def check_references(task: CodeTask, sandbox: Sandbox) -> list[SampleResult]:
    """Run every problem's reference solution."""
    completions = {problem.task_id: [task.reference(problem)] for problem in task.problems}
    return check_completions(task, completions, sandbox)


def check_broken(
    task: CodeTask,
    sandbox: Sandbox,
    kind: str,
    broken: dict[str, Callable[[CodeTask, Problem], str]] = BROKEN,
) -> list[SampleResult]:
    """Run a deliberately broken completion for every problem (each must fail). `broken`: the
    kinds for the task's language (BROKEN for Python functions, RUST_BROKEN, DS1000_BROKEN)."""
    make = broken[kind]
    completions = {problem.task_id: [make(task, problem)] for problem in task.problems}
    return check_completions(task, completions, sandbox)
