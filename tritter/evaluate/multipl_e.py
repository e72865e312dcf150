"""MultiPL-E's Rust problems as a code task: prompts, the Rust program of each completion, and
how a chat reply becomes one (`tritter.benchmarks.multipl_e` reads the problems,
`tritter.evaluate.rust` compiles and runs them in the sandbox).

A base model completes the prompt (doc comment + signature + `{`) with the body and stops at the
first of the problem's stop tokens (`"\\n}"`); the program is `prompt + completion + "\\n" +
tests`, as in MultiPL-E. A chat model is shown the prompt in a ```rust fence and asked for the
whole function; its reply's first code part or ```rust/```rs/untagged fence is the code. Code
that defines the function itself (`fn <name>`) replaces the prompt: the program is the prompt's
`use` lines the code does not repeat, the code, then the tests without the brace that closes
the prompt's function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tritter.benchmarks import Problem
from tritter.benchmarks.multipl_e import load_multipl_e_rust
from tritter.errors import TritterError
from tritter.evaluate import rust
from tritter.evaluate.replies import extract_code
from tritter.evaluate.sandbox import Execution
from tritter.evaluate.tasks import CodeTask

NAME = "multipl-e-rust"
RUST_TAGS = ("", "rust", "rs")
CHAT_INSTRUCTION = (
    "Complete this Rust function. Reply with the whole function, its signature included, in a "
    "```rust block; no main function and no tests."
)
_USE = re.compile(r"^\s*use\s+[^;]+;\s*$", re.M)


@dataclass(frozen=True)
class MultiplETask(CodeTask):
    runner: rust.RustRunner | None = None  # set once the Rust sandbox is open

    def prompt(self, problem: Problem) -> str:
        return problem.prompt

    def question(self, problem: Problem) -> str:
        return f"{CHAT_INSTRUCTION}\n\n```rust\n{problem.prompt.rstrip()}\n```"

    def source(self, problem: Problem, completion: str) -> str:
        """The Rust program for one completion (a body, or a whole function from a reply)."""
        if problem.entry_point and re.search(rf"\bfn\s+{problem.entry_point}\b", completion):
            uses = [line for line in _USE.findall(problem.prompt) if line.strip() not in completion]
            tests = problem.test.lstrip()
            tests = tests[1:] if tests.startswith("}") else tests
            return "".join(f"{line.strip()}\n" for line in uses) + f"{completion}\n{tests}"
        return f"{problem.prompt}{completion}\n{problem.test}"

    def program(self, problem: Problem, completion: str) -> str:
        if self.runner is None:
            raise TritterError("multipl-e-rust: the Rust sandbox is not open")
        return self.runner.program(self.source(problem, completion))

    def extract(self, reply: str) -> str:
        return extract_code(reply, RUST_TAGS)

    def verdict(self, execution: Execution) -> tuple[str, str]:
        return rust.verdict(execution)


def load_task(uri: str | None = None, limit: int | None = None) -> MultiplETask:
    """The task over the problems at `uri` (`tritter.benchmarks.rows`: a file or hf://…; the
    shipped sample by default), the first `limit` of them; its runner is set once the Rust
    sandbox is open (`tritter.evaluate.rust.open_runner`)."""
    problems = load_multipl_e_rust(uri)
    return task(problems[:limit] if limit else problems)


def task(problems: list[Problem]) -> MultiplETask:
    """The task over `problems`; its stop sequences are every problem's own (MultiPL-E gives
    `"\\n}"` for Rust)."""
    stop = tuple(dict.fromkeys(token for problem in problems for token in problem.stop))
    return MultiplETask(NAME, problems, stop or ("\n}",))
