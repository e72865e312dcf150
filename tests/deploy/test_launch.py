"""Starting training: launcher choice, and clear errors when neither path can run."""

from __future__ import annotations

import pytest

from tritter.deploy import launch
from tritter.deploy.pytorchjob import JobSpec
from tritter.errors import TritterError


def spec(tmp_path, **changes) -> JobSpec:
    values = dict(
        name="tritter-test-train",
        image="ghcr.io/tritter-ai/tritter-train:0.1.0",
        data=str(tmp_path / "tokens"),
        tokenizer=str(tmp_path / "tokenizer"),
        output=str(tmp_path / "checkpoints"),
        model="tiny",
        gpus_per_node=0,
        metrics_port=0,
        namespace="ml",
    )
    values.update(changes)
    return JobSpec(**values)


def test_auto_means_local_outside_a_cluster(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert not launch.in_cluster()
    assert launch.choose_launcher("auto") == "local"
    assert launch.choose_launcher("kubernetes") == "kubernetes"


def test_kubernetes_launcher_without_a_cluster_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(TritterError, match="cannot reach the Kubernetes API") as err:
        launch.run_kubernetes(spec(tmp_path, metrics_port=9400), timeout_seconds=10, poll_seconds=1)
    assert "\n" not in str(err.value)


def test_local_launcher_reports_the_trainer_failure(tmp_path):
    # No tokens folder: `tritter pretrain` itself refuses with its own one-line error first.
    with pytest.raises(TritterError, match="tritter pretrain exited with status 1"):
        launch.run_local(spec(tmp_path), timeout_seconds=300)


def test_local_launcher_reports_the_sft_failure(tmp_path):
    # No conversations at the sources: `tritter sft` refuses with its own one-line error first.
    failing = spec(
        tmp_path,
        phase="sft",
        init=str(tmp_path / "mid"),
        model=None,
        data=f"chats={tmp_path / 'none.jsonl'}",
        output=str(tmp_path / "sft"),
    )
    with pytest.raises(TritterError, match="tritter sft exited with status 1"):
        launch.run_local(failing, timeout_seconds=300)
