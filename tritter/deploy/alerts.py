"""Prometheus alert rules for training runs, for the chart's PrometheusRule.

They use the gauges every training pod serves (labels `run`, `rank`; the values are global, so
each rule takes one series per run) and fire on what costs money when nobody looks:

* TritterTrainingStalled — the step counter has not moved for 15 minutes while the pods still
  serve metrics (a hung collective, a dead data source);
* TritterLossNotFinite — the loss is NaN or infinite;
* TritterLossSpike — the loss is more than twice its mean over the last 30 minutes;
* TritterDataWaitHigh — ranks spend more than 20 % of each step waiting for data (10 minutes);
* TritterCheckpointSlow — a checkpoint save took longer than 15 minutes (storage trouble: the
  next save may fail and a crash would lose the work since the last one).

A test runs `promtool test rules` (the Prometheus binary's own tool) on synthetic series.
"""

from __future__ import annotations

from typing import Any

import yaml

STALL_MINUTES = 15


def _rule(name: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


RULES: list[dict[str, Any]] = [
    _rule(
        "TritterTrainingStalled",
        f"max by (run) (changes(tritter_train_step[{STALL_MINUTES}m])) == 0 "
        f"and max by (run) (tritter_train_step) > 0",
        "5m",
        "critical",
        f"Run {{{{ $labels.run }}}}: no optimizer step for {STALL_MINUTES} minutes",
    ),
    _rule(
        "TritterLossNotFinite",
        "max by (run) (tritter_train_loss != tritter_train_loss) "
        "or max by (run) (abs(tritter_train_loss) == +Inf)",
        "1m",
        "critical",
        "Run {{ $labels.run }}: the training loss is NaN or infinite",
    ),
    _rule(
        "TritterLossSpike",
        "max by (run) (tritter_train_loss) > 2 * max by (run) "
        "(avg_over_time(tritter_train_loss[30m]))",
        "2m",
        "warning",
        "Run {{ $labels.run }}: loss {{ $value }} is over twice its 30-minute mean",
    ),
    _rule(
        "TritterDataWaitHigh",
        "max by (run) (tritter_train_data_wait_ratio) > 0.2",
        "10m",
        "warning",
        "Run {{ $labels.run }}: over 20% of step time is spent waiting for data",
    ),
    _rule(
        "TritterCheckpointSlow",
        "max by (run) (tritter_checkpoint_save_seconds) > 900",
        "0m",
        "warning",
        "Run {{ $labels.run }}: the last checkpoint save took {{ $value }} s",
    ),
]


def rule_groups() -> dict[str, Any]:
    """The `groups` document Prometheus (and a PrometheusRule's spec) takes."""
    return {"groups": [{"name": "tritter-training", "rules": RULES}]}


def rules_yaml() -> str:
    return yaml.safe_dump(rule_groups(), sort_keys=False)
