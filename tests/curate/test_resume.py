"""An interrupted run leaves no half-written shard visible and finishes on relaunch, with the
same output as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_tritter

STDLIB_PACKAGE = Path(sysconfig.get_paths()["stdlib"]) / "asyncio"  # ~1 MB of real code
ARGS = ["--assume-license", "psf-2.0", "--allow-license", "psf-2.0", "--shard-mb", "0.025",
        "--workers", "2"]  # fmt: skip


def start(output: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tritter.cli", "curate", "--input", str(STDLIB_PACKAGE),
         "--output", str(output), *ARGS],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def kill_when(process: subprocess.Popen, pattern: str, output: Path, count: int) -> int:
    """SIGKILL the whole process group once `count` files match `pattern`; returns how many
    matched at the kill."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = len(list(output.glob(pattern)))
        if found >= count or process.poll() is not None:
            break
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    return found


def assert_nothing_half_written(output: Path) -> None:
    assert not (output / "_manifest.json").exists()
    for path in output.rglob("*"):
        if path.is_dir() or path.name.startswith(".tmp-"):
            continue  # temp names are invisible to listings and readers
        if path.suffix == ".parquet":
            pq.read_table(path)  # whole, valid file
        elif path.suffix == ".json":
            json.loads(path.read_text())


@pytest.mark.skipif(not STDLIB_PACKAGE.is_dir(), reason="no asyncio sources in this Python")
def test_killed_twice_then_relaunched_matches_an_uninterrupted_run(tmp_path):
    reference = run_tritter("curate", "--input", str(STDLIB_PACKAGE), "--output",
                            str(tmp_path / "ref"), *ARGS)  # fmt: skip
    assert reference.returncode == 0, reference.stderr
    expected = json.loads((tmp_path / "ref/_manifest.json").read_text())
    assert expected["counts"]["shards"] >= 10

    output = tmp_path / "out"
    killed_at = kill_when(start(output), "_work/shards/*/stats.json", output, 3)
    assert 3 <= killed_at < expected["counts"]["shards"]  # interrupted mid-processing
    assert_nothing_half_written(output)
    killed_at = kill_when(start(output), "_work/apply/*.json", output, 2)
    assert killed_at < expected["counts"]["shards"]  # interrupted again, mid-apply
    assert_nothing_half_written(output)

    finished = run_tritter("curate", "--input", str(STDLIB_PACKAGE), "--output", str(output),
                           *ARGS)  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    result = json.loads((output / "_manifest.json").read_text())
    assert result["counts"] == expected["counts"]
    assert result["files"] == expected["files"]  # same names, sizes and sha256
    assert not (output / "_work").exists()
