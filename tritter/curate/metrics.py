"""Prometheus counters for curation steps, pushed to a Pushgateway at the end of each step.

Names and labels (the Grafana dashboards of `tritter.deploy.dashboards` query them):

* `tritter_data_documents_total{stage, outcome, reason}` — `stage` is the step
  (`curate_process`, `curate_apply`); outcome `dropped` with the drop reason, `passed` (survived
  processing, before dedup), or `kept` with the quality label as reason.
* `tritter_data_bytes_total{stage, outcome}` — `input` bytes read by processing, `kept` bytes
  written by apply.
* `tritter_data_shards_done_total{stage}` — one per finished work unit of each step
  (`curate_process`, `curate_dedup_index`, `curate_apply`).
* `tritter_data_pii_total{stage, kind, unit}` — personal data found by processing (redacted,
  kept or dropped as `--pii` says): `kind` is `email`, `ip_address`, `phone` or `name`, `unit`
  `values` (occurrences) or `documents` (documents holding at least one). Never a value.

Each step owns a fresh registry and pushes under the grouping key `{step, unit}`, so parallel
pods never overwrite each other's series. Without `TRITTER_PUSHGATEWAY_URL` nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter

from tritter import metrics

JOB = "tritter_curate"


class StepMetrics:
    def __init__(self, stage: str, output: str) -> None:
        self.run = metrics.run_label(output)
        self.stage = stage
        self.registry = CollectorRegistry()
        self.documents = Counter(
            "tritter_data_documents_total",
            "Documents seen by a data stage, by outcome and reason",
            ["stage", "outcome", "reason"],
            registry=self.registry,
        )
        self.bytes = Counter(
            "tritter_data_bytes_total",
            "Bytes seen by a data stage, by outcome",
            ["stage", "outcome"],
            registry=self.registry,
        )
        self.pii = Counter(
            "tritter_data_pii_total",
            "Personal data found by a data stage, by kind, in values or documents",
            ["stage", "kind", "unit"],
            registry=self.registry,
        )
        self.shards = Counter(
            "tritter_data_shards_done_total",
            "Work units finished by a data stage step",
            ["stage"],
            registry=self.registry,
        )

    def count(self, outcome: str, reasons: Mapping[str, int]) -> None:
        for reason, value in reasons.items():
            if value:
                self.documents.labels(self.stage, outcome, reason).inc(value)

    def count_pii(self, values: Mapping[str, int], documents: Mapping[str, int]) -> None:
        for unit, counts in (("values", values), ("documents", documents)):
            for kind, value in counts.items():
                if value:
                    self.pii.labels(self.stage, kind, unit).inc(value)

    def add_bytes(self, outcome: str, value: int) -> None:
        if value:
            self.bytes.labels(self.stage, outcome).inc(value)

    def done(self, unit: int | str) -> bool:
        """Mark the unit finished and push (no-op without a Pushgateway)."""
        self.shards.labels(self.stage).inc()
        grouping = {"run": self.run, "step": self.stage, "unit": str(unit)}
        return metrics.push(self.registry, JOB, grouping)
