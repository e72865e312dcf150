"""MultiPL-E's Rust problems (Cassano et al. 2023): HumanEval translated to Rust.

Rows as `nuprl/MultiPL-E` (config `humaneval-rs`) writes them: `{name, language, prompt,
doctests, original, prompt_terms, tests, stop_tokens}`. `prompt` is the doc comment and the
function's signature up to its opening brace; a completion is the body, cut at the first stop
token (`"\\n}"`); `tests` closes the function and adds a `main` of `assert_eq!`s. The program is
`prompt + completion + "\\n" + tests`, compiled with `rustc` and run: it passes when it exits 0.

MultiPL-E ships no reference solutions. The shipped sample (`multipl-e-rust-sample.jsonl`, 12
problems written for Tritter in the same layout) adds one field, `canonical_solution`: a body
that passes, which the known-answer checks run through the harness.
"""

from __future__ import annotations

import re

from tritter.benchmarks import Problem
from tritter.benchmarks.rows import describe, read_rows, require
from tritter.errors import TritterError

SAMPLE = "multipl-e-rust-sample.jsonl"
DEFAULT_STOP = ("\n}",)
_FUNCTION = re.compile(r"^\s*(?:pub\s+)?fn\s+(\w+)", re.M)


def load_multipl_e_rust(uri: str | None = None) -> list[Problem]:
    """The Rust problems from `uri` (`hf://nuprl/MultiPL-E:humaneval-rs:test`, a JSONL/Parquet
    copy) or the shipped sample."""
    label = describe(uri, SAMPLE)
    problems = []
    for index, row in enumerate(read_rows(uri, SAMPLE)):
        where = f"{label}: row {index}"
        language = str(row.get("language") or "rs")
        if language not in ("rs", "rust"):
            raise TritterError(f"{where}: a {language} problem, not Rust (config humaneval-rs)")
        prompt = require(row, "prompt", str, where)
        functions = _FUNCTION.findall(prompt)
        stop = row.get("stop_tokens") or DEFAULT_STOP
        problems.append(
            Problem(
                benchmark="multipl-e-rust",
                task_id=str(require(row, "name", str, where)),
                prompt=prompt,
                solution=str(row.get("canonical_solution") or ""),
                test=require(row, "tests", str, where),
                entry_point=functions[-1] if functions else "",
                stop=tuple(str(token) for token in stop),
            )
        )
    if not problems:
        raise TritterError(f"{label}: holds no MultiPL-E Rust problems")
    return problems
