"""`tritter pipeline upload`: clear one-line errors when Kubeflow Pipelines cannot be used."""

from __future__ import annotations

import pytest

from tests.conftest import run_tritter
from tests.support.seaweed import free_port


def test_unreachable_host_is_one_line_error():
    host = f"http://127.0.0.1:{free_port()}"
    result = run_tritter("pipeline", "upload", "--host", host, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tritter: error: Kubeflow Pipelines at {host}:"), last
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # three CLI runs that each import kfp
def test_missing_package_and_bad_default_are_named(tmp_path):
    result = run_tritter("pipeline", "upload", "--host", "http://127.0.0.1:9",
                         "--package", str(tmp_path / "none.yaml"))  # fmt: skip
    assert result.returncode == 1 and "none.yaml: pipeline package not found" in result.stderr
    result = run_tritter("pipeline", "upload", "--host", "http://127.0.0.1:9", "--set", "nodes=0")
    assert result.returncode == 1 and "pipeline parameter 'nodes'" in result.stderr
    result = run_tritter("pipeline", "compile", "--output", str(tmp_path / "p.yaml"),
                         "--set", "gpus=8")  # fmt: skip
    assert result.returncode == 1 and "unknown pipeline parameter 'gpus'" in result.stderr


@pytest.mark.slow  # two CLI runs that each import kfp
def test_posttrain_upload_errors_are_one_line(tmp_path):
    host = f"http://127.0.0.1:{free_port()}"
    result = run_tritter("pipeline", "upload", "--host", host, "--pipeline", "posttrain",
                         "--set", "base=s3://b/runs/x/checkpoints", timeout=120)  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tritter: error: Kubeflow Pipelines at {host}:"), last
    assert "Traceback" not in result.stderr
    result = run_tritter("pipeline", "upload", "--host", host, "--pipeline", "posttrain",
                         "--set", "vocab_size=4096")  # fmt: skip
    assert result.returncode == 1
    assert "unknown pipeline parameter 'vocab_size'" in result.stderr.strip().splitlines()[-1]
