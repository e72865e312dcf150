"""ARC and MMLU: multiple choice, scored by log-likelihood for base models and by a generated
letter for chat models (`tritter.benchmarks.choice` reads the questions).

**Base models.** Every choice is a continuation of the same context (`context`,
`continuation`):

    The following is a question about <subject>.      (MMLU only, blank line after it)
    Question: <question>
    Answer: <choice>

The context is encoded after BOS and the continuation (" <choice>") on its own, as
lm-evaluation-harness does, and `continuation_logprobs` sums the log-probabilities the model
gives the continuation's tokens (one forward pass per batch of sequences, right-padded; a
sequence longer than the model's context keeps its end). The prediction is the choice with the
highest log-probability **per UTF-8 byte of the continuation** (`predict`): a raw sum favours
short choices, and bytes — unlike tokens — do not depend on the tokenizer (lm-evaluation-
harness's `acc_norm` divides by characters). `accuracy` is that prediction's; the unnormalized
sum's prediction is reported as `accuracy_unnormalized`. Ties go to the earlier choice.

**Chat models.** The question and its choices, lettered A, B, C, … in order (whatever labels the
dataset uses), are asked as a user turn ending with an instruction to answer with the letter;
the reply is generated greedily (`--choice.max-new-tokens`). `extract_letter` reads the answer,
first match wins: "answer is (X)" / "answer: X"; a reply that starts with the letter ("B", "(B)",
"B." or "**B**"); a reply that quotes exactly one choice's text. A reply with none of these is
`unanswered` and counts as wrong.

`score` turns predictions into the metrics results.json holds: `accuracy`, `correct`,
`problems`, `random_baseline` (the mean over questions of 1 / number of choices: what guessing
scores), `centered_accuracy` ((accuracy − baseline) / (1 − baseline), as CORE averages), for
MMLU the accuracy per subject and over the subjects the seed's target names
(`relevant_accuracy`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from tritter.benchmarks.choice import MMLU_RELEVANT_SUBJECTS, ChoiceQuestion
from tritter.evaluate.core import centered
from tritter.evaluate.replies import strip_markers

if TYPE_CHECKING:
    from tritter.tokenizer import Tokenizer

LETTERS = "ABCDEFGHIJ"
CHAT_INSTRUCTION = "Answer with the letter of the correct choice."
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*\(?\**\s*([A-J])\b", re.I)
# The letter alone, or closed by ".", ")", ":", "]" or "*" — not "A" the article ("A gas …").
_LEADING = re.compile(r"^\W{0,3}([A-J])(?:[.):\]*]|\s*$|\s*\n)")


def context(question: ChoiceQuestion) -> str:
    """The text every choice continues (base models)."""
    header = ""
    if question.subject:
        header = f"The following is a question about {question.subject.replace('_', ' ')}.\n\n"
    return f"{header}Question: {question.question.strip()}\nAnswer:"


def continuation(choice: str) -> str:
    return f" {choice.strip()}"


@torch.inference_mode()
def continuation_logprobs(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    requests: Sequence[tuple[str, str]],
    device: torch.device,
    max_positions: int,
    batch_size: int = 8,
) -> list[float]:
    """For each (context, continuation): the sum of log p(continuation token | everything before
    it) under `model`. The context is encoded after BOS (when the tokenizer has one), the
    continuation on its own."""
    bos = getattr(tokenizer, "bos_id", -1)
    encoded: list[tuple[list[int], int]] = []
    for text, more in requests:
        ids = list(tokenizer.encode(text))
        if bos is not None and bos >= 0:
            ids = [bos, *ids]
        added = list(tokenizer.encode(more))
        full = [*ids, *added][-(max_positions + 1) :]  # inputs are all but the last token
        encoded.append((full, min(len(added), len(full) - 1)))
    pad = tokenizer.pad_id if getattr(tokenizer, "pad_id", -1) >= 0 else 0
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    totals = [0.0] * len(encoded)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(encoded[i][0]) for i in batch) - 1
        if width <= 0:
            continue
        inputs = torch.full((len(batch), width), pad, dtype=torch.long)
        for row, index in enumerate(batch):
            ids = encoded[index][0]
            inputs[row, : len(ids) - 1] = torch.tensor(ids[:-1], dtype=torch.long)
        # Right padding: causal attention never lets a real token see the pads after it.
        logits = model(inputs.to(device))
        for row, index in enumerate(batch):
            ids, count = encoded[index]
            if count <= 0:
                continue
            end = len(ids) - 1  # the input position that predicts the last token
            scores = torch.log_softmax(logits[row, end - count : end].float(), dim=-1)
            targets = torch.tensor(ids[-count:], dtype=torch.long, device=scores.device)
            totals[index] = float(scores.gather(-1, targets[:, None]).sum())
    return totals


def choice_logprobs(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    questions: Sequence[ChoiceQuestion],
    device: torch.device,
    max_positions: int,
    batch_size: int = 8,
) -> list[list[float]]:
    """Per question, the log-likelihood of each choice's continuation."""
    requests = [(context(q), continuation(choice)) for q in questions for choice in q.choices]
    flat = continuation_logprobs(model, tokenizer, requests, device, max_positions, batch_size)
    out, at = [], 0
    for question in questions:
        out.append(flat[at : at + len(question.choices)])
        at += len(question.choices)
    return out


def normalized(logprobs: Sequence[float], choices: Sequence[str]) -> list[float]:
    """Log-likelihood per UTF-8 byte of each continuation."""
    return [
        value / max(1, len(continuation(choice).encode("utf-8")))
        for value, choice in zip(logprobs, choices, strict=True)
    ]


def predict(values: Sequence[float]) -> int:
    """The index of the highest value (the first of equals)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


def question_text(question: ChoiceQuestion) -> str:
    """The user turn that asks a chat model the question."""
    header = ""
    if question.subject:
        header = (
            f"This is a multiple-choice question about {question.subject.replace('_', ' ')}.\n\n"
        )
    options = "\n".join(
        f"{LETTERS[i]}. {choice.strip()}" for i, choice in enumerate(question.choices)
    )
    return f"{header}{question.question.strip()}\n\n{options}\n\n{CHAT_INSTRUCTION}"


def extract_letter(reply: str, question: ChoiceQuestion) -> int | None:
    """The index of the choice a reply answers, or None (see the module docstring)."""
    text = strip_markers(reply).strip()
    count = len(question.choices)
    for pattern in (_ANSWER_IS, _LEADING):
        found = pattern.search(text)
        if found and LETTERS.index(found.group(1).upper()) < count:
            return LETTERS.index(found.group(1).upper())
    lowered = text.lower()
    quoted = [i for i, choice in enumerate(question.choices) if choice.strip().lower() in lowered]
    return quoted[0] if len(quoted) == 1 else None


def score_logprobs(
    questions: Sequence[ChoiceQuestion], logprobs: Sequence[Sequence[float]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics and per-question records from each choice's log-likelihood."""
    records = []
    for question, values in zip(questions, logprobs, strict=True):
        per_byte = normalized(values, question.choices)
        chosen = predict(per_byte)
        records.append({
            **_record(question, chosen),
            "predicted_unnormalized": predict(values),
            "logprobs": [round(v, 4) for v in values],
            "logprobs_per_byte": [round(v, 5) for v in per_byte],
        })  # fmt: skip
    metrics = _metrics(questions, records)
    raw = sum(r["predicted_unnormalized"] == r["answer"] for r in records)
    metrics["accuracy_unnormalized"] = round(raw / len(records), 6) if records else 0.0
    metrics["scoring"] = "loglikelihood"
    metrics["normalization"] = "per_byte"
    return metrics, records


def score_replies(
    questions: Sequence[ChoiceQuestion], replies: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics and per-question records from chat replies."""
    records = []
    for question, reply in zip(questions, replies, strict=True):
        chosen = extract_letter(reply, question)
        records.append({**_record(question, chosen), "reply": reply})
    metrics = _metrics(questions, records)
    metrics["unanswered"] = sum(r["predicted"] is None for r in records)
    metrics["scoring"] = "generation"
    return metrics, records


def _record(question: ChoiceQuestion, chosen: int | None) -> dict[str, Any]:
    record = {
        "task_id": question.task_id,
        "answer": question.answer,
        "answer_label": question.labels[question.answer],
        "predicted": chosen,
        "predicted_label": question.labels[chosen] if chosen is not None else None,
        "correct": chosen == question.answer,
        "choices": len(question.choices),
    }
    if question.subject:
        record["subject"] = question.subject
    return record


def _metrics(
    questions: Sequence[ChoiceQuestion], records: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    correct = sum(r["correct"] for r in records)
    accuracy = correct / len(records) if records else 0.0
    baseline = sum(q.random_baseline for q in questions) / len(questions) if questions else 0.0
    metrics: dict[str, Any] = {
        "problems": len(records),
        "correct": correct,
        "accuracy": round(accuracy, 6),
        "random_baseline": round(baseline, 6),
        "centered_accuracy": round(centered(accuracy, baseline), 6),
    }
    subjects: dict[str, list[bool]] = {}
    for record in records:
        if "subject" in record:
            subjects.setdefault(record["subject"], []).append(record["correct"])
    if subjects:
        metrics["subjects"] = {
            name: {"problems": len(flags), "accuracy": round(sum(flags) / len(flags), 6)}
            for name, flags in sorted(subjects.items())
        }
        relevant = [f for name in MMLU_RELEVANT_SUBJECTS for f in subjects.get(name, [])]
        metrics["relevant_problems"] = len(relevant)
        if relevant:
            metrics["relevant_accuracy"] = round(sum(relevant) / len(relevant), 6)
    return metrics
