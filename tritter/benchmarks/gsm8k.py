"""GSM8K: grade-school math word problems with a final numeric answer (Cobbe et al. 2021).

Rows as `openai/gsm8k` (config `main`) writes them: `{question, answer}`, where `answer` is the
worked solution — with `<<48/2=24>>` calculator annotations — ending in a line `#### <number>`.
The shipped sample (`gsm8k-sample.jsonl`, 12 problems written for Tritter) has the same layout.
Problems are numbered by their row: `gsm8k/0`, `gsm8k/1`, …

`final_answer(text)` reads the number a solution ends with: the one after the last `####` when
there is one, else the last number in the text. Numbers are compared after `normalize_number`:
thousands separators, a currency sign and a trailing period go, so "$1,200." equals "1200" and
"3.50" equals "3.5".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tritter.benchmarks.rows import describe, read_rows, require
from tritter.errors import TritterError

SAMPLE = "gsm8k-sample.jsonl"
_NUMBER = re.compile(r"-?[$€£]?\s?\d[\d,]*(?:\.\d+)?")
_ANNOTATION = re.compile(r"<<[^<>]*>>")


@dataclass(frozen=True)
class MathProblem:
    task_id: str
    question: str
    solution: str  # the worked solution, calculator annotations removed, ending "#### <answer>"
    answer: str  # the final number, normalized


def normalize_number(text: str) -> str | None:
    """A canonical decimal string for a number as written ("$1,200.50" → "1200.5"), or None."""
    cleaned = text.strip().rstrip(".").replace(",", "").lstrip("$€£").strip()
    if cleaned.startswith("-"):
        cleaned = "-" + cleaned[1:].lstrip("$€£ ")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    normalized = value.normalize()
    # Decimal("100").normalize() is 1E+2: write integers out in full.
    return f"{normalized:f}" if normalized == normalized.to_integral() else str(normalized)


def final_answer(text: str) -> str | None:
    """The normalized number a solution gives: after its last `####`, else its last number."""
    if "####" in text:
        found = _NUMBER.search(text.rsplit("####", 1)[1])
        if found:
            return normalize_number(found.group(0))
    numbers = _NUMBER.findall(text)
    return normalize_number(numbers[-1]) if numbers else None


def load_gsm8k(uri: str | None = None) -> list[MathProblem]:
    """GSM8K problems from `uri` (`hf://openai/gsm8k:main:test`, a JSONL/Parquet copy) or the
    shipped sample."""
    label = describe(uri, SAMPLE)
    problems = []
    for index, row in enumerate(read_rows(uri, SAMPLE)):
        where = f"{label}: row {index}"
        question = require(row, "question", str, where)
        solution = require(row, "answer", str, where)
        answer = final_answer(solution) if "####" in solution else None
        if answer is None:
            raise TritterError(f"{where}: the answer does not end with '#### <number>'")
        problems.append(
            MathProblem(f"gsm8k/{index}", question, _ANNOTATION.sub("", solution), answer)
        )
    if not problems:
        raise TritterError(f"{label}: holds no GSM8K problems")
    return problems
