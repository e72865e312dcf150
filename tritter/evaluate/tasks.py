"""Code-generation tasks: how each benchmark becomes a prompt and a runnable test program.

A base model sees `prompt(problem)` and produces a completion (cut at the first stop sequence);
a chat model is asked `question(problem)` as a user turn and the program is taken from its reply
(`tritter.evaluate.replies`). `program(problem, completion)` is what the sandbox runs: it raises
(fails) unless the completion is correct. A chat reply's code goes where a completion goes,
after the prompt, which then supplies the imports and helper functions the question showed.
`reference(problem)` is the completion that reproduces the benchmark's own solution, used by the
known-answer checks of the harness. `extract(reply)` takes the program from a chat reply and
`verdict(execution)` turns the sandbox's outcome into the sample's (status, reason); subclasses
for other languages and harnesses (`tritter.evaluate.multipl_e`, `tritter.evaluate.ds1000`)
override what differs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tritter import storage
from tritter.benchmarks import MBPP_TEST_IDS, Problem, load_humaneval, load_mbpp
from tritter.errors import TritterError
from tritter.evaluate.replies import extract_program

if TYPE_CHECKING:
    from tritter.evaluate.sandbox import Execution

# Codex paper / bigcode-evaluation-harness conventions: stop where a new top-level statement
# begins, since a base model keeps writing after the function it was asked for.
HUMANEVAL_STOP = ("\nclass ", "\ndef ", "\n#", "\n@", "\nif __name__", "\nprint(", "\n```")
# MBPP completions write the whole function, so "\ndef" cannot stop them (helpers are allowed).
MBPP_STOP = ("\nclass ", "\nassert ", '\n"""', "\nprint(", "\nif __name__", "\n```")

# How a chat model is asked for a solution: this instruction, a blank line, then the problem
# (HumanEval: its prompt in a Python fence; MBPP: the description and one of its tests).
CHAT_INSTRUCTION = (
    "Solve this Python programming task. Reply with the complete code: the imports it needs and "
    "the whole function, not only its body."
)
MBPP_CHAT_TEST = "Your code should pass this test:"


@dataclass(frozen=True)
class CodeTask:
    name: str
    problems: list[Problem]
    stop: tuple[str, ...]

    def prompt(self, problem: Problem) -> str:
        if self.name == "humaneval":
            return problem.prompt
        # Zero-shot MBPP as in bigcode-evaluation-harness: the description and one test as a
        # docstring, then the model writes the function.
        example = problem.tests[0] if problem.tests else ""
        return f'"""\n{problem.description.strip()}\n{example}\n"""\n'

    def question(self, problem: Problem) -> str:
        """The user turn that asks a chat model for the solution."""
        if self.name == "humaneval":
            body = f"```python\n{problem.prompt.rstrip()}\n```"
        else:
            example = problem.tests[0] if problem.tests else ""
            body = f"{problem.description.strip()}\n{MBPP_CHAT_TEST}\n{example}".rstrip()
        return f"{CHAT_INSTRUCTION}\n\n{body}"

    def program(self, problem: Problem, completion: str) -> str:
        """The full test program for one completion."""
        return f"{self.prompt(problem)}{completion}\n\n{problem.test}"

    def reference(self, problem: Problem) -> str:
        """The completion that turns the prompt into the benchmark's reference solution."""
        return problem.solution

    def extract(self, reply: str) -> str:
        """The program in a chat model's reply (`tritter.evaluate.replies`)."""
        return extract_program(reply)

    def verdict(self, execution: Execution) -> tuple[str, str]:
        """(status, reason) of a sample from its program's execution."""
        return execution.status, execution.reason


def load_task(name: str, path: str | None = None, limit: int | None = None) -> CodeTask:
    """A code task with its problems (the MBPP test split, task_ids 11–510, for scores)."""
    with _local(path) as local:
        if name == "humaneval":
            problems = load_humaneval(local)
            stop = HUMANEVAL_STOP
        elif name == "mbpp":
            problems = load_mbpp(local, task_ids=MBPP_TEST_IDS)
            stop = MBPP_STOP
        else:
            raise TritterError(f"unknown code task '{name}'")
    if not problems:
        raise TritterError(f"{path or name}: benchmark file holds no {name} problems")
    return CodeTask(name, problems[:limit] if limit else problems, stop)


@contextlib.contextmanager
def _local(uri: str | None) -> Iterator[Path | None]:
    """A local path for a benchmark file given as a URI (downloaded to a temp file from S3)."""
    if uri is None:
        yield None
        return
    if not storage.exists(uri):
        raise TritterError(f"{uri}: benchmark file not found")
    with storage.local_copy(uri) as path:
        yield path
