"""DS-1000: data-science problems for NumPy, pandas, SciPy, Matplotlib, scikit-learn,
TensorFlow and PyTorch (Lai et al. 2023).

Rows as `xlangai/DS-1000` writes them: `{prompt, reference_code, code_context, metadata:
{problem_id, library, library_problem_id, test_case_cnt, perturbation_type, …}}`. `prompt`
shows the problem and ends where the solution goes (`BEGIN SOLUTION\\n<code>`); `code_context`
is Python that defines `test_execution(solution)` (and sometimes `test_string(solution)`), which
raise when a solution is wrong. The shipped sample (`ds1000-sample.jsonl`, 8 problems written for
Tritter in the same layout: NumPy, pandas, SciPy, scikit-learn) carries a passing
`reference_code` for each.
"""

from __future__ import annotations

import re

from tritter.benchmarks import Problem
from tritter.benchmarks.rows import describe, read_rows, require
from tritter.errors import TritterError

SAMPLE = "ds1000-sample.jsonl"
# DS-1000's library names → the module that must import for its problems to run.
LIBRARY_MODULES = {
    "Numpy": "numpy",
    "Pandas": "pandas",
    "Scipy": "scipy",
    "Matplotlib": "matplotlib",
    "Sklearn": "sklearn",
    "Tensorflow": "tensorflow",
    "Pytorch": "torch",
}
# `import a, b` / `from a.b import c` at the start of a line (also inside the exec_context string).
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)[\w.]*[ \t]+import\b|import[ \t]+([^\n#;]+))", re.M
)


def load_ds1000(uri: str | None = None) -> list[Problem]:
    """DS-1000 problems from `uri` (`hf://xlangai/DS-1000::test`, a JSONL/Parquet copy) or the
    shipped sample."""
    label = describe(uri, SAMPLE)
    problems = []
    for index, row in enumerate(read_rows(uri, SAMPLE)):
        where = f"{label}: row {index}"
        metadata = require(row, "metadata", dict, where)
        context = require(row, "code_context", str, where)
        if "def test_execution(" not in context:
            raise TritterError(f"{where}: code_context defines no test_execution(solution)")
        problems.append(
            Problem(
                benchmark="ds1000",
                task_id=str(metadata.get("problem_id", index)),
                prompt=require(row, "prompt", str, where),
                solution=require(row, "reference_code", str, where),
                test=context,
                entry_point="",
                library=str(metadata.get("library") or ""),
            )
        )
    if not problems:
        raise TritterError(f"{label}: holds no DS-1000 problems")
    return problems


def required_modules(problem: Problem) -> set[str]:
    """Top-level modules a DS-1000 problem imports (its test code and the code it executes),
    plus its library's: every one must import for the problem to be scored."""
    modules = set()
    for source, names in _IMPORT.findall(problem.test):
        if source:
            modules.add(source)
        for name in names.split(","):
            first = name.strip().split(".")[0].split(" ")[0]
            if first.isidentifier():
                modules.add(first)
    if problem.library in LIBRARY_MODULES:
        modules.add(LIBRARY_MODULES[problem.library])
    return modules
