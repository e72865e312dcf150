"""GSM8K: a worked solution generated greedily, scored by its final number
(`tritter.benchmarks.gsm8k` reads the problems).

Base models see `--gsm8k.shots` worked examples (written for Tritter, not GSM8K's own problems,
in GSM8K's answer format) and then the problem:

    Question: <problem>
    Answer:

and the completion stops at the next `Question:` or two blank lines (`STOP`). Chat models are
asked the problem as a user turn with an instruction to end on a line `#### <answer>`; the reply
ends with the turn. The prediction is `final_answer` of the completion, or of the reply with its
control markers removed (the number after the last `####`, else the last number in the text);
it is correct when it equals the reference's final number as a decimal ("1,200" = "1200.0").
A completion without any number is `unanswered` and wrong. The random baseline is 0: CORE
counts GSM8K's accuracy as it is. No tool runs: a chat model's code parts are not executed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tritter.benchmarks.gsm8k import MathProblem, final_answer
from tritter.evaluate.replies import strip_markers

STOP = ("\nQuestion:", "\n\n\n")
CHAT_INSTRUCTION = (
    "Solve this math problem step by step. End your reply with a line '#### <answer>' where "
    "<answer> is only the final number."
)
# Worked examples for base models (written for Tritter; not GSM8K problems).
SHOTS = (
    (
        "A farmer has 3 fields with 14 cows in each field. He sells 9 cows. How many cows does "
        "he have left?",
        "He has 3 * 14 = 42 cows.\nAfter selling 9 he has 42 - 9 = 33 cows.\n#### 33",
    ),
    (
        "A bottle holds 750 milliliters of juice. Anna pours 4 glasses of 150 milliliters each. "
        "How many milliliters are left in the bottle?",
        "She pours 4 * 150 = 600 milliliters.\nThere are 750 - 600 = 150 milliliters left.\n"
        "#### 150",
    ),
    (
        "Pens cost $2 each and notebooks cost $5 each. Leo buys 6 pens and 2 notebooks. How many "
        "dollars does he spend?",
        "The pens cost 6 * 2 = 12 dollars.\nThe notebooks cost 2 * 5 = 10 dollars.\n"
        "He spends 12 + 10 = 22 dollars.\n#### 22",
    ),
    (
        "A cyclist rides 18 kilometers every weekday and 30 kilometers on Saturday. How many "
        "kilometers does she ride in one week if she rests on Sunday?",
        "On weekdays she rides 5 * 18 = 90 kilometers.\nWith Saturday that is 90 + 30 = 120 "
        "kilometers.\n#### 120",
    ),
)


def prompt(problem: MathProblem, shots: int) -> str:
    """The base-model prompt: `shots` worked examples, then the problem."""
    examples = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in SHOTS[:shots])
    return f"{examples}Question: {problem.question.strip()}\nAnswer:"


def question(problem: MathProblem) -> str:
    """The user turn that asks a chat model."""
    return f"{problem.question.strip()}\n\n{CHAT_INSTRUCTION}"


def score(
    problems: Sequence[MathProblem], completions: Sequence[str], chat: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics and per-problem records. `completions`: base completions, or chat replies."""
    records = []
    for problem, text in zip(problems, completions, strict=True):
        predicted = final_answer(strip_markers(text) if chat else text)
        records.append({
            "task_id": problem.task_id,
            "answer": problem.answer,
            "predicted": predicted,
            "correct": predicted == problem.answer,
            "reply" if chat else "completion": text,
        })  # fmt: skip
    correct = sum(r["correct"] for r in records)
    metrics = {
        "problems": len(records),
        "correct": correct,
        "accuracy": round(correct / len(records), 6) if records else 0.0,
        "unanswered": sum(r["predicted"] is None for r in records),
        "random_baseline": 0.0,
        "scoring": "generation",
    }
    return metrics, records
