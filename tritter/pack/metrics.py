"""Prometheus counters for packing, pushed to a Pushgateway when one is configured.

* `tritter_data_documents_total{stage="pack", outcome="packed", reason=<split>/<subset>}`
* `tritter_data_bytes_total{stage="pack", outcome="input"}` — UTF-8 text bytes tokenized
* `tritter_data_tokens_total{stage="pack", split, subset}` — tokens written
* `tritter_data_shards_done_total{stage="pack"}`

Each shard pushes its own registry under the grouping key `{step: pack_shard, unit: N}` so
parallel pods never overwrite each other. Without `TRITTER_PUSHGATEWAY_URL` nothing is sent.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter

from tritter import metrics

JOB = "tritter_pack"


def shard_done(result: dict[str, Any], output: str) -> bool:
    registry = CollectorRegistry()
    documents = Counter(
        "tritter_data_documents_total",
        "Documents seen by a data stage, by outcome and reason",
        ["stage", "outcome", "reason"],
        registry=registry,
    )
    text_bytes = Counter(
        "tritter_data_bytes_total",
        "Bytes seen by a data stage, by outcome",
        ["stage", "outcome"],
        registry=registry,
    )
    tokens = Counter(
        "tritter_data_tokens_total",
        "Tokens written by packing",
        ["stage", "split", "subset"],
        registry=registry,
    )
    shards = Counter(
        "tritter_data_shards_done_total",
        "Work units finished by a data stage step",
        ["stage"],
        registry=registry,
    )
    where = f"{result['split']}/{result['subset']}"
    documents.labels("pack", "packed", where).inc(result["documents"])
    text_bytes.labels("pack", "input").inc(result["text_bytes"])
    tokens.labels("pack", result["split"], result["subset"]).inc(result["tokens"])
    shards.labels("pack").inc()
    grouping = {
        "run": metrics.run_label(output),
        "step": "pack_shard",
        "unit": str(result["index"]),
    }
    return metrics.push(registry, JOB, grouping)
