"""Multiple-choice benchmarks: ARC (AI2 Reasoning Challenge, Easy and Challenge sets; Clark et
al. 2018) and MMLU (Hendrycks et al. 2021), read into one `ChoiceQuestion` record.

Rows as the public datasets write them:

* ARC (`allenai/ai2_arc`, configs `ARC-Easy` / `ARC-Challenge`): `{id, question, choices:
  {text: [...], label: [...]}, answerKey}` — labels are usually A–D, sometimes 1–4, and a few
  questions have 3 or 5 choices;
* MMLU (`cais/mmlu`, config `all` or one subject): `{question, subject, choices: [4 strings],
  answer: 0–3}`; MMLU questions are numbered by row (`mmlu/0`, …).

The shipped samples (`arc-easy-sample.jsonl`, `arc-challenge-sample.jsonl`, `mmlu-sample.jsonl`)
are questions written for Tritter in the same layouts.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritter.benchmarks.rows import describe, read_rows, require
from tritter.errors import TritterError

SAMPLES = {
    "arc-easy": "arc-easy-sample.jsonl",
    "arc-challenge": "arc-challenge-sample.jsonl",
    "mmlu": "mmlu-sample.jsonl",
}
# The seed's target names "MMLU subsets covering business, computer security, and software
# engineering". MMLU has no software-engineering subject: its computer-science subjects stand in.
MMLU_RELEVANT_SUBJECTS = (
    "business_ethics",
    "management",
    "marketing",
    "computer_security",
    "college_computer_science",
    "high_school_computer_science",
    "machine_learning",
)


@dataclass(frozen=True)
class ChoiceQuestion:
    benchmark: str
    task_id: str
    question: str
    choices: tuple[str, ...]
    labels: tuple[str, ...]  # as the dataset labels the choices (A–D, 1–4, …)
    answer: int  # index of the correct choice
    subject: str = ""  # MMLU's subject

    @property
    def random_baseline(self) -> float:
        """The accuracy of picking a choice at random."""
        return 1.0 / len(self.choices)


def load_choice(name: str, uri: str | None = None) -> list[ChoiceQuestion]:
    """The questions of `name` (arc-easy, arc-challenge or mmlu) from `uri` or the sample."""
    if name not in SAMPLES:
        raise TritterError(f"unknown multiple-choice benchmark '{name}'")
    label = describe(uri, SAMPLES[name])
    rows = read_rows(uri, SAMPLES[name])
    read = _mmlu if name == "mmlu" else _arc
    questions = [read(name, row, index, f"{label}: row {index}") for index, row in enumerate(rows)]
    if not questions:
        raise TritterError(f"{label}: holds no {name} questions")
    return questions


def _arc(name: str, row: dict, index: int, where: str) -> ChoiceQuestion:
    choices = require(row, "choices", dict, where)
    texts = require(choices, "text", list, f"{where} choices")
    labels = require(choices, "label", list, f"{where} choices")
    key = str(require(row, "answerKey", (str, int), where)).strip()
    if len(texts) < 2 or len(texts) != len(labels):
        raise TritterError(f"{where}: needs two or more choices, each with a label")
    labels = [str(label).strip() for label in labels]
    if key not in labels:
        raise TritterError(f"{where}: answerKey '{key}' is not one of the labels {labels}")
    return ChoiceQuestion(
        benchmark=name,
        task_id=str(row.get("id") or f"{name}/{index}"),
        question=require(row, "question", str, where),
        choices=tuple(str(text) for text in texts),
        labels=tuple(labels),
        answer=labels.index(key),
    )


def _mmlu(name: str, row: dict, index: int, where: str) -> ChoiceQuestion:
    choices = [str(choice) for choice in require(row, "choices", list, where)]
    answer = require(row, "answer", (int, str), where)
    if isinstance(answer, str):  # a copy that kept the letter
        letter = answer.strip().upper()
        answer = "ABCDEFGHIJ".index(letter) if len(letter) == 1 and letter in "ABCDEFGHIJ" else -1
    if len(choices) < 2 or not 0 <= answer < len(choices):
        raise TritterError(f"{where}: answer {answer} is not the index of one of the choices")
    return ChoiceQuestion(
        benchmark=name,
        task_id=f"{name}/{index}",
        question=require(row, "question", str, where),
        choices=tuple(choices),
        labels=tuple("ABCDEFGHIJ"[: len(choices)]),
        answer=answer,
        subject=str(row.get("subject") or ""),
    )
