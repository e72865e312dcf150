"""Score completions: run each one's test program in the sandbox and compute pass@k."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from tritter import progress
from tritter.evaluate.passk import mean_pass_at_k
from tritter.evaluate.sandbox import Sandbox
from tritter.evaluate.tasks import CodeTask


@dataclass(frozen=True)
class SampleResult:
    """One completion and its verdict (a line of samples-<task>.jsonl)."""

    task_id: str
    sample: int
    completion: str
    status: str
    reason: str
    seconds: float
    reply: str | None = None  # a chat model's whole reply; `completion` is the program from it

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_record(self) -> dict:
        record = asdict(self)
        if self.reply is None:
            del record["reply"]
        record["passed"] = self.passed
        return record


def check_completions(
    task: CodeTask,
    completions: Mapping[str, Sequence[str]],
    sandbox: Sandbox,
    replies: Mapping[str, Sequence[str]] | None = None,
) -> list[SampleResult]:
    """Run every completion against its problem's tests; results ordered by (problem, sample).
    `replies`: the chat replies the completions were taken from, kept in the results."""
    problems = {problem.task_id: problem for problem in task.problems}
    jobs = [
        (task_id, index, completion)
        for task_id, samples in completions.items()
        for index, completion in enumerate(samples)
    ]
    programs = (task.program(problems[task_id], text) for task_id, _, text in jobs)
    results: list[SampleResult | None] = [None] * len(jobs)
    finished = sandbox.run_many(programs)
    for index, execution in progress.track(finished, total=len(jobs), desc=f"{task.name} tests"):
        task_id, sample, completion = jobs[index]
        status, reason = task.verdict(execution)
        results[index] = SampleResult(
            task_id, sample, completion, status, reason, round(execution.wall_seconds, 4),
            replies[task_id][sample] if replies is not None else None,
        )  # fmt: skip
    return [result for result in results if result is not None]


def score(results: Sequence[SampleResult], ks: Sequence[int]) -> dict:
    """pass@k for each k that every problem has enough samples for, plus counts."""
    per_problem: dict[str, list[bool]] = {}
    for result in results:
        per_problem.setdefault(result.task_id, []).append(result.passed)
    counts = [(len(flags), sum(flags)) for flags in per_problem.values()]
    fewest = min((n for n, _ in counts), default=0)
    metrics: dict = {
        "problems": len(per_problem),
        "samples": len(results),
        "samples_per_problem": fewest,
        "passed_samples": sum(c for _, c in counts),
        "solved_problems": sum(1 for _, c in counts if c > 0),
        "status": dict(sorted(Counter(result.status for result in results).items())),
    }
    for k in ks:
        if counts and k <= fewest:
            metrics[f"pass@{k}"] = round(mean_pass_at_k(counts, k), 6)
    return metrics
