"""The training alerts, checked by Prometheus' own `promtool` on synthetic series: each fires
on the failure it names and stays quiet on a healthy run; the chart ships the same rules."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from tests.deploy.test_helm import by_kind, render
from tests.support.real_parts import need_program
from tritter.deploy import alerts

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# Two nodes of run "ok" (the same global values on both), one stalled run, one with a NaN loss,
# one whose loss spikes, one starved of data, one with slow checkpoints. One sample a minute.
SERIES = [
    # healthy: steps advance, loss falls slowly, little data wait
    {"series": 'tritter_train_step{run="ok", rank="0"}', "values": "0+10x60"},
    {"series": 'tritter_train_step{run="ok", rank="8"}', "values": "0+10x60"},
    {"series": 'tritter_train_loss{run="ok", rank="0"}', "values": "5-0.01x60"},
    {"series": 'tritter_train_loss{run="ok", rank="8"}', "values": "5-0.01x60"},
    {"series": 'tritter_train_data_wait_ratio{run="ok", rank="0"}', "values": "0.01x60"},
    {"series": 'tritter_checkpoint_save_seconds{run="ok", rank="0"}', "values": "30x60"},
    # stalled after 20 minutes at step 200
    {"series": 'tritter_train_step{run="hung", rank="0"}', "values": "0+10x20 200x40"},
    {"series": 'tritter_train_loss{run="hung", rank="0"}', "values": "4x60"},
    # the loss turns NaN at minute 30
    {"series": 'tritter_train_step{run="nan", rank="0"}', "values": "0+10x60"},
    {
        "series": 'tritter_train_loss{run="nan", rank="0"}',
        "values": "4x30 " + " ".join(["NaN"] * 30),
    },
    # the loss jumps from 3 to 9 at minute 40
    {"series": 'tritter_train_step{run="spike", rank="0"}', "values": "0+10x60"},
    {"series": 'tritter_train_loss{run="spike", rank="0"}', "values": "3x40 9x20"},
    # half of every step waiting for data
    {"series": 'tritter_train_step{run="starved", rank="0"}', "values": "0+10x60"},
    {"series": 'tritter_train_loss{run="starved", rank="0"}', "values": "4x60"},
    {"series": 'tritter_train_data_wait_ratio{run="starved", rank="0"}', "values": "0.5x60"},
    # a 20-minute checkpoint save
    {"series": 'tritter_checkpoint_save_seconds{run="slowsave", rank="0"}', "values": "1200x60"},
]


def _alert(run: str, severity: str, summary: str) -> dict:
    return {"exp_labels": {"run": run, "severity": severity},
            "exp_annotations": {"summary": summary}}  # fmt: skip


# Each alert: exactly the run that fails its way (the healthy run "ok" fires nothing).
CASES = [
    ("TritterTrainingStalled",
     [_alert("hung", "critical", "Run hung: no optimizer step for 15 minutes")]),
    ("TritterLossNotFinite",
     [_alert("nan", "critical", "Run nan: the training loss is NaN or infinite")]),
    ("TritterLossSpike",
     [_alert("spike", "warning", "Run spike: loss 9 is over twice its 30-minute mean")]),
    ("TritterDataWaitHigh",
     [_alert("starved", "warning",
             "Run starved: over 20% of step time is spent waiting for data")]),
    ("TritterCheckpointSlow",
     [_alert("slowsave", "warning", "Run slowsave: the last checkpoint save took 1200 s")]),
]  # fmt: skip


def test_each_alert_fires_on_its_failure_and_only_there(tmp_path):
    need_program(PROMTOOL, "prometheus")
    (tmp_path / "rules.yaml").write_text(alerts.rules_yaml())
    checked = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "rules.yaml")],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    at = "45m"  # after every failure above has lasted longer than its rule's `for`
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": SERIES,
            "alert_rule_test": [
                {"eval_time": at, "alertname": name, "exp_alerts": expected}
                for name, expected in CASES
            ],
        }],
    }  # fmt: skip
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run([PROMTOOL, "test", "rules", "tests.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_ships_the_rules():
    (rule,) = by_kind(render({"monitoring": {"alerts": {"labels": {"release": "kps"}}}}),
                      "PrometheusRule")  # fmt: skip
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["spec"] == alerts.rule_groups()
    assert not by_kind(render({"monitoring": {"alerts": {"enabled": False}}}), "PrometheusRule")
