"""`tritter_eval_*` gauges, pushed to a Pushgateway when TRITTER_PUSHGATEWAY_URL is set.

Evaluation is a short batch step, so it pushes its final numbers once (grouped by run) rather
than serving them. Like every Tritter metric: prefix `tritter_`, ratios 0–1, durations in seconds.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from tritter import metrics
from tritter.evaluate.identity import METRICS as IDENTITY_METRICS
from tritter.evaluate.persona import METRICS as PERSONA_METRICS

JOB = "tritter_evaluate"


def registry_for(results: dict[str, Any], run: str) -> CollectorRegistry:
    """A registry holding the gauges for one results.json."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...]) -> Gauge:
        return Gauge(name, doc, ("run", *labels), registry=registry)

    pass_at_k = gauge("tritter_eval_pass_at_k_ratio", "pass@k of a code task", ("task", "k"))
    problems = gauge("tritter_eval_problems", "problems evaluated", ("task",))
    generation = gauge("tritter_eval_generation_tokens_per_second", "decode throughput", ("task",))
    sandbox = gauge(
        "tritter_eval_sandbox_seconds_per_sample", "mean sandbox wall time per sample", ("task",)
    )
    loss = gauge("tritter_eval_loss", "held-out loss (nats/token)", ("subset",))
    perplexity = gauge("tritter_eval_perplexity", "held-out perplexity", ("subset",))
    bpb = gauge("tritter_eval_bits_per_byte", "held-out bits per UTF-8 byte", ("subset",))
    duration = gauge("tritter_eval_duration_seconds", "wall time of a task", ("task",))
    accuracy = gauge(
        "tritter_eval_accuracy_ratio", "accuracy of GSM8K, ARC or MMLU (0–1)", ("task",)
    )
    core = gauge(
        "tritter_eval_core_score",
        "CORE: mean centred accuracy of the suites evaluated (0 = chance, 1 = all right)",
        (),
    )
    identity = gauge(
        "tritter_eval_identity_ratio",
        "identity task: share of answers that are consistent, name the persona, claim to be human",
        ("metric",),
    )
    persona = gauge(
        "tritter_eval_persona_ratio",
        "persona task: share of replies that flatter, agree with / correct a false premise, "
        "refuse a benign request, admit uncertainty, are identity-consistent, claim to be human",
        ("metric",),
    )

    for task, values in results.get("tasks", {}).items():
        if isinstance(values.get("seconds"), (int, float)):
            duration.labels(run, task).set(values["seconds"])
        if task == "perplexity":
            subsets = dict(values.get("subsets", {}))
            if values.get("overall"):
                subsets["all"] = values["overall"]
            for subset, numbers in subsets.items():
                loss.labels(run, subset).set(numbers["loss"])
                perplexity.labels(run, subset).set(numbers["perplexity"])
                bpb.labels(run, subset).set(numbers["bpb"])
            continue
        if task == "core":
            if isinstance(values.get("score"), (int, float)):
                core.labels(run).set(values["score"])
            continue
        problems.labels(run, task).set(values.get("problems", 0))
        if isinstance(values.get("accuracy"), (int, float)):
            accuracy.labels(run, task).set(values["accuracy"])
        if task == "identity":
            for metric in IDENTITY_METRICS:
                identity.labels(run, metric).set(values[metric])
        if task == "persona":
            for metric in PERSONA_METRICS:
                rate = values.get("rates", {}).get(metric, {}).get("rate")
                if rate is not None:
                    persona.labels(run, metric).set(rate)
        for key, value in values.items():
            if key.startswith("pass@"):
                pass_at_k.labels(run, task, key[5:]).set(value)
        rate = values.get("generation", {}).get("tokens_per_second")
        if rate is not None:
            generation.labels(run, task).set(rate)
        per_sample = values.get("sandbox_seconds_per_sample")
        if per_sample is not None:
            sandbox.labels(run, task).set(per_sample)
    return registry


def push_results(results: dict[str, Any], run: str) -> bool:
    """Push when a Pushgateway is configured; True when pushed."""
    return metrics.push(registry_for(results, run), JOB, grouping={"run": run})
