"""DS-1000 as a code task: the problem's prompt completed with the solution, checked by the
problem's own `code_context` in the sandbox (`tritter.benchmarks.ds1000` reads the problems).

A base model completes the prompt (which ends `BEGIN SOLUTION\\n<code>`) and stops at `</code>`
or `# SOLUTION END`; a chat model is asked the prompt as a user turn and the code is its reply's
first code part or Python fence. The completion is cleaned as DS-1000's own harness does
(`postprocess`: cut at `</code>`, `END SOLUTION` or a closing fence; `<code>` and a ```python
opener dropped). The program is, as DS-1000 runs it:

    <code_context>
    code = <the completion as a string literal>
    test_execution(code)
    test_string(code)        # when the context defines it

after a preamble that puts the evaluator's site-packages on `sys.path` (the sandbox interpreter
runs with `-I -S`, so it has only the standard library; the directories are exposed read-only,
`Sandbox(expose=...)`), pins BLAS/OpenMP to one thread (threads count against the process
limit) and selects Matplotlib's Agg backend.

Libraries: before the model loads, every module the problems import (their context's `import`
lines and their library's package, `required_modules`) is imported once in the sandbox. A problem
that needs a module that does not import there is skipped — not generated, not counted in pass@k
— and results.json says how many, by library and by missing module. Limits: `--ds1000.*`
(default 60 s and 2048 MiB per program: importing pandas or PyTorch needs more than a plain
Python test).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tritter.benchmarks import Problem
from tritter.benchmarks.ds1000 import load_ds1000, required_modules
from tritter.evaluate.config import Ds1000Config, SandboxConfig
from tritter.evaluate.sandbox import Sandbox
from tritter.evaluate.tasks import CodeTask

NAME = "ds1000"
STOP = ("</code>", "# SOLUTION END", "\nEND SOLUTION")
CHAT_INSTRUCTION = (
    "Solve this Python data-science problem. Reply with only the code that goes where the "
    "solution goes, in a ```python block."
)
_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def postprocess(completion: str) -> str:
    """The solution code in a completion, as DS-1000's harness cleans it."""
    code = completion.split("</code>")[0]
    code = code.split("\nEND SOLUTION")[0].split("# SOLUTION END")[0]
    code = code.replace("<code>", "")
    if code.lstrip().startswith("```"):
        code = code.lstrip().split("\n", 1)[1] if "\n" in code.lstrip() else ""
    return code.split("```")[0]


def site_directories() -> list[str]:
    """The evaluator's site-packages directories (where numpy, pandas, … are installed)."""
    found = []
    for entry in sys.path:
        name = os.path.basename(entry.rstrip("/"))
        if entry and name in ("site-packages", "dist-packages") and os.path.isdir(entry):
            found.append(entry)
    return found


def preamble(paths: Iterable[str]) -> str:
    """What every DS-1000 program starts with: library paths, one thread, no display."""
    lines = [
        "import os as _os, sys as _sys",
        f"_sys.path[:0] = {list(paths)!r}",
        *(f"_os.environ[{name!r}] = '1'" for name in _THREADS),
        "_os.environ['MPLBACKEND'] = 'Agg'",
        "del _os, _sys",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Ds1000Task(CodeTask):
    paths: tuple[str, ...] = ()  # site-packages as programs see them
    skipped: dict[str, Any] = field(default_factory=dict)  # what results.json reports

    def prompt(self, problem: Problem) -> str:
        return problem.prompt

    def question(self, problem: Problem) -> str:
        return f"{CHAT_INSTRUCTION}\n\n{problem.prompt.rstrip()}"

    def program(self, problem: Problem, completion: str) -> str:
        code = postprocess(completion)
        calls = "test_execution(code)\n"
        if "def test_string(" in problem.test:
            calls += "test_string(code)\n"
        return f"{preamble(self.paths)}{problem.test}\n\ncode = {code!r}\n{calls}"

    def reference(self, problem: Problem) -> str:
        return problem.solution


def load_task(uri: str | None = None, limit: int | None = None) -> Ds1000Task:
    """The task over the problems at `uri` (`tritter.benchmarks.rows`: a file or hf://…; the
    shipped sample by default), the first `limit` of them, before the library check
    (`open_task`)."""
    problems = load_ds1000(uri)
    return Ds1000Task(NAME, problems[:limit] if limit else problems, STOP)


def sandbox_limits(sandbox: SandboxConfig, ds1000: Ds1000Config) -> SandboxConfig:
    return sandbox.model_copy(
        update={"timeout_seconds": ds1000.timeout_seconds, "memory_mb": ds1000.memory_mb}
    )


def open_task(
    problems: list[Problem], sandbox: SandboxConfig, ds1000: Ds1000Config
) -> tuple[Sandbox, Ds1000Task]:
    """A sandbox that sees the evaluator's site-packages, and the task over the problems whose
    modules import there (the others are in `task.skipped`)."""
    box = Sandbox(sandbox_limits(sandbox, ds1000), expose=site_directories())
    paths = tuple(box.visible_path(directory) for directory in box.expose)
    needed = sorted(set().union(*(required_modules(problem) for problem in problems)))
    imports = available(box, paths, needed)
    kept, missing_by_library, missing_modules = [], Counter(), Counter()
    for problem in problems:
        missing = sorted(m for m in required_modules(problem) if not imports[m])
        if missing:
            missing_by_library[problem.library or "unknown"] += 1
            missing_modules.update(missing)
        else:
            kept.append(problem)
    skipped = {
        "problems": len(problems) - len(kept),
        "libraries": dict(sorted(missing_by_library.items())),
        "missing_modules": dict(sorted(missing_modules.items())),
    }
    return box, Ds1000Task(NAME, kept, STOP, paths=paths, skipped=skipped)


def available(box: Sandbox, paths: tuple[str, ...], modules: list[str]) -> dict[str, bool]:
    """Whether each module imports inside the sandbox (one program per module)."""
    programs = [f"{preamble(paths)}import {module}\n" for module in modules]
    found = dict.fromkeys(modules, False)
    for index, execution in box.run_many(programs):
        found[modules[index]] = execution.passed
    return found
