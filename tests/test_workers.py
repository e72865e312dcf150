"""Pool workers die with their parent: SIGKILL the parent of a `tritter.workers` pool (a plain
script, `tritter curate`, `tritter pack`) and every worker is gone within seconds, nothing is
written after the kill, no half-written file is visible, and a relaunch finishes the stage.
Processes are found and watched through /proc, every wait bounded in time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_tritter
from tests.train.data import build
from tritter.storage import TEMP_PREFIX

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
GONE_WITHIN = 5.0  # seconds a worker may outlive its killed parent


def children(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (from /proc/*/stat)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry))
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":  # a zombie has exited; only its parent's wait is missing
            living.add(pid)
    return living


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def kill_parent_and_watch(parent: subprocess.Popen, workers: set[int]) -> float:
    """SIGKILL the parent; seconds until every worker is gone (fails past GONE_WITHIN)."""
    parent.kill()
    parent.wait(timeout=10)
    killed = time.monotonic()
    try:
        wait_for(lambda: not alive(workers), GONE_WITHIN, f"workers {sorted(workers)} to exit")
    finally:
        for pid in alive(workers):  # only if the test failed: never leave them running
            os.kill(pid, signal.SIGKILL)
    return time.monotonic() - killed


def visible_files(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(TEMP_PREFIX)
    }


def check_complete(root: Path) -> None:
    """Every file a listing shows is whole: it parses as what its name says."""
    for name in visible_files(root):
        path = root / name
        if name.endswith(".parquet"):
            pq.read_table(path)
        elif name.endswith((".npy", ".npz")):
            loaded = np.load(path, allow_pickle=False)
            if name.endswith(".tokens.npy"):
                assert path.stat().st_size == 128 + loaded.nbytes, name
        elif name.endswith(".jsonl"):
            for line in path.read_text().splitlines():
                json.loads(line)
        elif name.endswith(".json"):
            json.loads(path.read_text())


def quiet_after_kill(root: Path) -> None:
    """Nothing appears or changes once the workers are gone (no stale writer)."""
    before = visible_files(root)
    time.sleep(1.0)
    assert visible_files(root) == before


SCRIPT = """
import sys, time
from concurrent.futures import ProcessPoolExecutor
from tritter.workers import process_pool
pool = process_pool(2, sys.argv[1]) if sys.argv[2] == "tritter" else ProcessPoolExecutor(2)
futures = [pool.submit(time.sleep, 60) for _ in range(2)]
print("submitted", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_die_with_their_parent(method):
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT, method, "tritter"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert parent.stdout.readline().strip() == "submitted"
    workers = wait_for(lambda: children(parent.pid) if len(children(parent.pid)) >= 2 else None,
                       30, "two pool workers")  # fmt: skip
    assert kill_parent_and_watch(parent, workers) < GONE_WITHIN


def test_a_plain_pool_leaves_orphans_the_check_would_catch():
    """The control: without `tritter.workers`, the same workers outlive their parent."""
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT, "fork", "plain"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert parent.stdout.readline().strip() == "submitted"
    workers = wait_for(lambda: children(parent.pid) if len(children(parent.pid)) >= 2 else None,
                       30, "two pool workers")  # fmt: skip
    parent.kill()
    parent.wait(timeout=10)
    time.sleep(2.0)
    try:
        assert alive(workers) == workers
    finally:
        for pid in alive(workers):
            os.kill(pid, signal.SIGKILL)
    assert ProcessPoolExecutor  # the plain pool the script used


def launch(log: Path, *args: str) -> subprocess.Popen:
    with open(log, "w") as handle:
        return subprocess.Popen([sys.executable, "-m", "tritter.cli", *args],
                                stdout=handle, stderr=subprocess.STDOUT)  # fmt: skip


def wait_for_work(parent: subprocess.Popen, folder: Path, log: Path, what: str) -> None:
    """Until `folder` holds something, while the parent runs (its log when it stopped)."""

    def ready() -> bool:
        assert parent.poll() is None, f"stopped before {what}: {log.read_text()[-2000:]}"
        return folder.is_dir() and any(folder.iterdir())

    try:
        wait_for(ready, 60, what)
    except AssertionError:
        parent.kill()
        raise


def test_killed_curate_leaves_no_worker_and_no_partial_file(tmp_path):
    source = tmp_path / "src"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for package in ("email", "json", "http", "xml", "asyncio", "unittest", "logging"):
        shutil.copytree(stdlib / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "test*"))  # fmt: skip
    output = tmp_path / "curated"
    args = ("curate", "--input", str(source), "--output", str(output), "--assume-license", "mit",
            "--workers", "2", "--shard-files", "5")  # fmt: skip
    parent = launch(tmp_path / "log", *args)
    # Written by the pool's first processed unit.
    wait_for_work(parent, output / "_work" / "shards", tmp_path / "log", "a processed unit")
    workers = children(parent.pid)
    assert len(workers) >= 2, "the pool is not running"
    kill_parent_and_watch(parent, workers)
    quiet_after_kill(output)
    check_complete(output)
    done = run_tritter(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    check_complete(output)


def test_killed_pack_leaves_no_worker_and_no_partial_file(tmp_path):
    data = build(tmp_path / "data")
    output = tmp_path / "tokens"
    args = ("pack", "--input", data["curated"], "--tokenizer", data["tokenizer"], "--output",
            str(output), "--seq-len", "64", "--shard-tokens", "1024", "--workers", "2")  # fmt: skip
    parent = launch(tmp_path / "log", *args)
    wait_for_work(parent, output / "_work" / "shards", tmp_path / "log", "a packed shard")
    workers = children(parent.pid)
    assert len(workers) >= 2, "the pool is not running"
    kill_parent_and_watch(parent, workers)
    quiet_after_kill(output)
    check_complete(output)
    done = run_tritter(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    again = run_tritter(*args)  # the relaunch of a finished pack hashes every shard
    assert again.returncode == 0 and "verified, skipping" in again.stderr
