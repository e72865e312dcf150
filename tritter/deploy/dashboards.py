"""Grafana dashboards for training and data, generated as JSON for the chart's ConfigMaps.

Panel queries use the metric names the stages export: training gauges served by every
training pod (labels `run`, `rank`; scraped through the PodMonitor), and data/eval counters
pushed by short pipeline steps to a Pushgateway. A test runs a real Prometheus against a real
training run and evaluates every query here.
"""

from __future__ import annotations

import json
from typing import Any

# Grafana replaces these; the tests substitute the same values to evaluate a query.
RUN = 'run=~"$run"'
RATE = "$__rate_interval"


def _m(metric: str) -> str:
    """`metric{run=~"$run"}`: the series of the runs picked in the dashboard."""
    return f"{metric}{{{RUN}}}"


DCGM_PODS = '{metric}{{pod=~"tritter-.*-(train|mid|sft|dpo|rl)-.*"}}'
# Every node's local rank 0 serves the same global values (losses, throughput and token counts
# are reduced over all ranks before they are set), so panels take one series per run (`max by
# (run)`) instead of one per node — or, for the token counter, N times the tokens on N nodes.
TRAINING = [
    ("Loss", f"max by (run) ({_m('tritter_train_loss')})", "none"),
    ("Validation loss", f"max by (run) ({_m('tritter_train_val_loss')})", "none"),
    ("Tokens per second", f"max by (run) ({_m('tritter_train_tokens_per_second')})", "short"),
    ("MFU", f"max by (run) ({_m('tritter_train_mfu_ratio')})", "percentunit"),
    ("Gradient norm", f"max by (run) ({_m('tritter_train_grad_norm')})", "none"),
    ("Learning rate", f"max by (run) ({_m('tritter_train_learning_rate')})", "none"),
    ("Step", f"max by (run) ({_m('tritter_train_step')})", "none"),
    ("Step time", f"max by (run) ({_m('tritter_train_step_duration_seconds')})", "s"),
    (
        "Data wait",
        f"max by (run, rank) ({_m('tritter_train_data_wait_ratio')})",
        "percentunit",
    ),
    ("Checkpoint save time", f"max by (run) ({_m('tritter_checkpoint_save_seconds')})", "s"),
    (
        "Checkpoint blocking time",
        f"max by (run) ({_m('tritter_checkpoint_blocking_seconds')})",
        "s",
    ),
    (
        "GPU memory (allocated, reserved)",
        # A `kind` label keeps both: `A or B` with identical labels drops every B series.
        f"label_replace(max by (run, rank) ({_m('tritter_train_gpu_memory_allocated_bytes')}), "
        f'"kind", "allocated", "", "") or '
        f"label_replace(max by (run, rank) ({_m('tritter_train_gpu_memory_reserved_bytes')}), "
        f'"kind", "reserved", "", "")',
        "bytes",
    ),
    # NVIDIA's DCGM exporter (GPU Operator) labels each GPU's series with the pod using it; the
    # training pods are named after their job, `tritter-…-(train|mid|sft|dpo|rl)-…`. Empty on a
    # cluster without the exporter.
    (
        "GPU utilisation (DCGM exporter)",
        f"avg by (pod, gpu) ({DCGM_PODS.format(metric='DCGM_FI_DEV_GPU_UTIL')}) / 100",
        "percentunit",
    ),
    (
        "GPU memory used (DCGM exporter)",
        f"max by (pod, gpu) ({DCGM_PODS.format(metric='DCGM_FI_DEV_FB_USED')}) * 1048576",
        "bytes",
    ),
    (
        "Tokens consumed",
        f"max by (run) (rate({_m('tritter_train_tokens_total')}[{RATE}]))",
        "short",
    ),
]

# The data steps push with a `run` label (the run folder's name), so runs never overwrite
# each other and the dashboard picks runs like the training one.
DATA = [
    (
        "Documents kept",
        f'sum by (run, stage, reason) (tritter_data_documents_total{{{RUN}, outcome="kept"}})',
        "short",
    ),
    (
        "Documents dropped by reason",
        f'sum by (run, stage, reason) (tritter_data_documents_total{{{RUN}, outcome="dropped"}})',
        "short",
    ),
    (
        "Dedup ratio (duplicates / documents passing the filters)",
        f'sum by (run) (tritter_data_documents_total{{{RUN}, stage="curate_apply", '
        f'outcome="dropped", reason=~".*_duplicate"}}) / sum by (run) '
        f'(tritter_data_documents_total{{{RUN}, stage="curate_process", outcome="passed"}})',
        "percentunit",
    ),
    ("Shards done", f"sum by (run, stage) ({_m('tritter_data_shards_done_total')})", "short"),
    ("Bytes", f"sum by (run, stage, outcome) ({_m('tritter_data_bytes_total')})", "bytes"),
    (
        "Tokens packed",
        f"sum by (run, split, subset) ({_m('tritter_data_tokens_total')})",
        "short",
    ),
]


def _panel(index: int, title: str, expr: str, unit: str) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": (index % 2) * 12, "y": (index // 2) * 8, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}],
    }


def dashboard(uid: str, title: str, panels: list[tuple[str, str, str]], runs_from: str) -> dict:
    """A dashboard whose `run` variable lists the runs of metric `runs_from`."""
    variables: list[dict[str, Any]] = [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}
    ]
    if runs_from:
        variables.append(
            {
                "name": "run",
                "type": "query",
                "label": "Run",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {"query": f"label_values({runs_from}, run)", "refId": "runs"},
                "includeAll": True,
                "multi": True,
                "allValue": ".*",
                "refresh": 2,
            }
        )
    return {
        "uid": uid,
        "title": title,
        "tags": ["tritter"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "panels": [_panel(i, *panel) for i, panel in enumerate(panels)],
    }


def dashboards() -> dict[str, str]:
    """File name → dashboard JSON text."""
    made = {
        "training.json": dashboard(
            "tritter-training", "Tritter / Training", TRAINING, "tritter_train_step"
        ),
        "data.json": dashboard(
            "tritter-data", "Tritter / Data", DATA, "tritter_data_shards_done_total"
        ),
    }
    return {name: json.dumps(board, indent=2) + "\n" for name, board in made.items()}


def queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana variables replaced) for every panel."""
    found = []
    for panel in board["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$run", ".*").replace(RATE, "1m")
            found.append((panel["title"], expr))
    return found
