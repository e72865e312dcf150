"""The built-in rewards of `tritter rl`: small functions `reward(prompt, completion, row) -> float`.

`prompt` is the text of the row's last user turn, `completion` the policy's reply as
`tritter.evaluate.generation.decode_reply` writes it (control markers shown as their pieces:
`<|code_start|>…<|code_end|>` around a code part, `<|output_start|>…<|output_end|>` around what
the sandbox printed when it ran), and `row` the prompt row with all its fields. A user's own
reward has the same signature (`--reward module:function`). Rewards run in worker processes
(`tritter.rl.runner`) with a wall-clock bound: one that raises, hangs or returns something that
is not a finite number scores 0 and is counted, and never stops the run.

The built-ins (name: row fields needed → reward):

* `unit_tests`: `test` (+ `entry_point`, `test_setup`) → 1 when the reply's program (its first
  code part, else its first Python fence, else all of it) followed by the tests runs clean in
  the sandbox;
* `numeric`: `answer` → 1 when the reply's final answer equals `answer`;
* `format_number`: — → 1 when the reply's prose starts with a number;
* `format_code`: — → 1 when the reply holds a closed code part or a Python fence.

`unit_tests` runs MBPP/HumanEval-style rows: `test` is Python that raises when the program is
wrong (asserts; or a `check(candidate)` function, called on `entry_point` when the row names
one), `test_setup` runs before the program. The final answer of `numeric` (GSM8K style): the
number after the last `####`, else inside the last `\\boxed{}`, else the last number of the
reply's prose (code parts and tool outputs left out: the policy may compute with the python
tool, but it must say the answer). `answer` is a number or text read the same way ("1,234",
"#### 72").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tritter.evaluate.replies import extract_program

RewardFunction = Callable[[str, str, dict[str, Any]], float]

_CODE_PART = re.compile(r"<\|code_start\|>.*?(?:<\|code_end\|>|\Z)", re.DOTALL)
_OUTPUT_PART = re.compile(r"<\|output_start\|>.*?(?:<\|output_end\|>|\Z)", re.DOTALL)
_MARKER = re.compile(r"<\|[a-z0-9_]+\|>")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_FENCE = re.compile(r"^[ \t]*```[ \t]*(?:python3?|py)?[ \t]*\r?\n.*?\S.*?^[ \t]*```", re.M | re.S)


def prose(completion: str) -> str:
    """The reply as said: code parts, tool outputs and control markers taken out."""
    return _MARKER.sub("", _OUTPUT_PART.sub("", _CODE_PART.sub("", completion)))


def parse_number(text: str) -> float | None:
    """`1,234` → 1234.0, `-0.5` → -0.5; None when `text` is no number."""
    cleaned = text.strip().replace(",", "").rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def final_answer(text: str) -> float | None:
    """The final number of `text` (see the module docstring), or None when it has none."""
    said = prose(text)
    if "####" in said:
        found = _NUMBER.search(said.rsplit("####", 1)[1])
        return parse_number(found.group(0)) if found else None
    boxed = _BOXED.findall(said)
    if boxed:
        found = _NUMBER.search(boxed[-1])
        return parse_number(found.group(0)) if found else None
    numbers = _NUMBER.findall(said)
    return parse_number(numbers[-1]) if numbers else None


def expected_answer(value: object) -> float | None:
    """A row's `answer`: a number, or text read as `final_answer` reads a reply."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return final_answer(str(value)) if value is not None else None


def numeric(prompt: str, completion: str, row: dict[str, Any]) -> float:
    expected, got = expected_answer(row.get("answer")), final_answer(completion)
    if expected is None or got is None:
        return 0.0
    return 1.0 if abs(got - expected) <= 1e-6 * max(1.0, abs(expected)) else 0.0


def format_number(prompt: str, completion: str, row: dict[str, Any]) -> float:
    text = prose(completion).lstrip()
    return 1.0 if re.match(r"-?\d", text) else 0.0


def format_code(prompt: str, completion: str, row: dict[str, Any]) -> float:
    closed = re.search(r"<\|code_start\|>.*?\S.*?<\|code_end\|>", completion, re.S)
    return 1.0 if closed or _FENCE.search(prose(completion)) else 0.0


def unit_test_program(completion: str, row: dict[str, Any]) -> str:
    """What `unit_tests` runs: the row's setup, the reply's program, the row's tests."""
    test = str(row["test"])
    entry = row.get("entry_point")
    call = f"\ncheck({entry})\n" if entry and "def check(" in test else ""
    setup = str(row.get("test_setup") or "")
    return f"{setup}\n{extract_program(completion)}\n\n{test}\n{call}"


# The sandbox the `unit_tests` reward runs programs in (one per worker process, built on first
# use with the limits `configure` set).
_sandbox: Any = None
_sandbox_config: dict[str, Any] = {}


def configure(sandbox: dict[str, Any]) -> None:
    """The sandbox limits (`SandboxConfig` fields) for `unit_tests` in this process."""
    global _sandbox, _sandbox_config
    _sandbox, _sandbox_config = None, dict(sandbox)


def unit_tests(prompt: str, completion: str, row: dict[str, Any]) -> float:
    global _sandbox
    if _sandbox is None:
        from tritter.evaluate.config import SandboxConfig
        from tritter.evaluate.sandbox import Sandbox

        _sandbox = Sandbox(SandboxConfig.model_validate({**_sandbox_config, "workers": 1}))
    return 1.0 if _sandbox.run(unit_test_program(completion, row)).passed else 0.0


@dataclass(frozen=True)
class Builtin:
    function: RewardFunction
    fields: tuple[str, ...]  # every prompt row must carry these


BUILTINS: dict[str, Builtin] = {
    "unit_tests": Builtin(unit_tests, ("test",)),
    "numeric": Builtin(numeric, ("answer",)),
    "format_number": Builtin(format_number, ()),
    "format_code": Builtin(format_code, ()),
}
