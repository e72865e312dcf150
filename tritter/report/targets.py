"""The targets the project set for the trained model (HumanEval pass@1 > 50 %, MBPP pass@1 > 60 %,
MultiPL-E Rust > 40 %, DS-1000 > 30 %, MMLU ≥ 60 % on the business, computer-security and
computer-science subjects, Python perplexity < 3, technical-docs perplexity < 5, …), checked by
the report. The seeds set no target for GSM8K, ARC or CORE: the report shows those scores in its
own table, not against a target."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    key: str  # where the value lives: "<task>:<metric>" or "perplexity:<subset>"
    label: str
    comparison: str  # ">", ">=" or "<"
    threshold: float
    percent: bool = False  # shown as a percentage

    def met(self, value: float) -> bool:
        if self.comparison == ">=":
            return value >= self.threshold
        return value > self.threshold if self.comparison == ">" else value < self.threshold

    def describe(self) -> str:
        shown = f"{self.threshold:.0%}" if self.percent else f"{self.threshold:g}"
        return f"{'≥' if self.comparison == '>=' else self.comparison} {shown}"


TARGETS = (
    Target("humaneval:pass@1", "HumanEval pass@1", ">", 0.50, percent=True),
    Target("mbpp:pass@1", "MBPP pass@1", ">", 0.60, percent=True),
    Target("multipl-e-rust:pass@1", "MultiPL-E Rust pass@1", ">", 0.40, percent=True),
    Target("ds1000:pass@1", "DS-1000 pass@1", ">", 0.30, percent=True),
    # MMLU's business, computer-security and computer-science subjects (the seed names
    # "business, computer security, and software engineering"; MMLU has no software-engineering
    # subject): tritter.benchmarks.choice.MMLU_RELEVANT_SUBJECTS.
    Target(
        "mmlu:relevant_accuracy",
        "MMLU accuracy (business, security, CS subjects)",
        ">=",
        0.60,
        percent=True,
    ),
    Target("perplexity:python", "Python perplexity", "<", 3.0),
    Target("perplexity:rust", "Rust perplexity", "<", 4.0),
    Target("perplexity:docs", "Technical docs perplexity", "<", 5.0),
)
