"""Every hostile program of the sandbox suite under every isolation mode, including the one the
shipped deployment gets: a non-root uid without namespaces (a driver started through `setpriv`
with no_new_privs and a seccomp filter refusing unshare, as a container runtime's default
profile does), where only Landlock and the seccomp filter stand between generated code and the
evaluator's credentials. Also: generated code never runs as root, and without the isolation it
asks for the evaluator refuses to start with one line unless the loudly named opt-out is given.

Needs root here (to create the unprivileged situation) and a kernel with Landlock; elsewhere
these skip and say why, and under CI they fail (`tests.support.real_parts`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from functools import cache

import psutil
import pytest
from pydantic import ValidationError

from tests.evaluate import sandbox_hostile
from tests.evaluate.sandbox_hostile import GHOST_DELAY, TIMEOUT, Context
from tests.support.real_parts import need
from tritter.errors import TritterError
from tritter.evaluate import confine
from tritter.evaluate import sandbox as sandbox_module
from tritter.evaluate.config import UNSAFE, SandboxConfig
from tritter.evaluate.sandbox import Sandbox

REPO = sandbox_module.BOOTSTRAP.parents[2]
DRIVER_UID = 64_123  # no account; nothing else on the machine runs as it
SECRET = "tritter-test-secret-" + uuid.uuid4().hex[:12]
SIGNAL_OWN_CHILD = (
    "import os, signal, time\n"
    "child = os.fork()\n"
    "if child == 0:\n"
    "    time.sleep(30)\n"
    "    os._exit(0)\n"
    "os.kill(child, signal.SIGTERM)\n"
    "assert os.waitpid(child, 0)[1] == signal.SIGTERM\n"
)


def need_root() -> None:
    need(os.geteuid() == 0, "creating a non-root evaluator needs root (setpriv)")


def need_landlock() -> int:
    abi, missing = confine.landlock_abi()
    need(abi >= 1, missing)
    return abi


@cache
def portable_python() -> str | None:
    """An interpreter of this Python version that every uid can read: the per-slot uid must
    import the standard library without the bind mounts of "namespaces" (a pyenv build under
    /root is out of its reach)."""
    for path in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if not os.path.exists(path) or sandbox_module._hidden_from_others(path):
            continue
        version = subprocess.run(
            [path, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        if version == [str(sys.version_info[0]), str(sys.version_info[1])]:
            return path
    return None


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[int, list]]:
    """A loopback TCP port nothing may connect to."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept())

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def stage(listener) -> Iterator[dict]:
    """A directory the program's uid may write and a credentials file it may read (so only the
    sandbox stops either), outside any work directory; removed afterwards."""
    root = tempfile.mkdtemp(prefix="tritter-hostile-")
    os.chmod(root, 0o755)
    outside = os.path.join(root, "outside")
    os.mkdir(outside, 0o777)
    os.chmod(outside, 0o777)  # per-slot uids, the driver's uid: all may write here
    secret_file = os.path.join(root, "credentials")
    with open(secret_file, "w") as handle:
        handle.write(SECRET)
    os.chmod(secret_file, 0o644)
    marker = "tg-" + uuid.uuid4().hex[:10]
    context = {"secret": SECRET, "port": listener[0], "outside_dir": outside,
               "secret_file": secret_file, "marker": marker}  # fmt: skip
    yield context
    shutil.rmtree(root, ignore_errors=True)
    for stray in (f"/tmp/{marker}-escape", f"/var/tmp/{marker}-escape"):
        with contextlib.suppress(OSError):
            os.unlink(stray)


def alive(wanted, patience: float = 3.0) -> list[int]:
    """Live processes for which `wanted(process)` holds. A process sent SIGKILL runs no more
    code but takes a moment to exit, so this waits up to `patience` seconds for them to go."""
    deadline = time.monotonic() + patience
    while True:
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.status() != psutil.STATUS_ZOMBIE and wanted(process):
                    found.append(process.pid)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def named(marker: str) -> list[int]:
    return alive(lambda process: process.name() == marker)


def assert_no_aftermath(stage: dict, accepted: list, isolation: str) -> None:
    """Nothing connected, nothing the programs forked is alive, and nothing they wrote outside
    appears later (the daemon writes after GHOST_DELAY)."""
    assert accepted == []
    assert named(stage["marker"]) == [], "a daemonized grandchild outlived its sample"
    time.sleep(GHOST_DELAY + 0.3)
    assert named(stage["marker"]) == []
    assert not os.path.exists(os.path.join(stage["outside_dir"], "ghost.txt"))
    if isolation != UNSAFE:
        assert os.listdir(stage["outside_dir"]) == []
        assert not os.path.exists(f"/tmp/{stage['marker']}-escape")


def run_catalogue(sandbox: Sandbox, context: Context) -> dict[str, tuple[str, str]]:
    sources = sandbox_hostile.programs(context)
    names = list(sources)
    return {
        names[index]: (execution.status, execution.reason)
        for index, execution in sandbox.run_many(sources[name] for name in names)
    }


def check_all(results: dict, isolation: str) -> None:
    assert sorted(results) == sorted(sandbox_hostile.programs(Context("", 0, "", "", 0, "")))
    for name, (status, reason) in results.items():
        sandbox_hostile.check(name, status, reason, isolation)


def drive(request: dict, timeout: float = 120) -> dict:
    """Run tests/evaluate/sandbox_driver.py as DRIVER_UID (no capabilities, no_new_privs), with
    the secret in its environment; returns its JSON."""
    setpriv = shutil.which("setpriv")
    need(setpriv is not None, "`setpriv` not found: install the Debian package util-linux")
    python = portable_python()
    need(python is not None, "no Python every user can read")
    request = {**request, "interpreter": python}
    if request.get("context"):
        request["context"] = {k: v for k, v in request["context"].items() if k != "secret"}
    command = [
        str(setpriv), f"--reuid={DRIVER_UID}", f"--regid={DRIVER_UID}", "--clear-groups",
        "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
        str(python), "-m", "tests.evaluate.sandbox_driver", json.dumps(request),
    ]  # fmt: skip
    site_packages = [p for p in sys.path if p.endswith("-packages") and os.path.isdir(p)]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(REPO), *site_packages]),
        "HOME": "/nonexistent",
        "AWS_ACCESS_KEY_ID": "AKIA-TEST",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"driver died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- as root: every mode runs generated code as the per-slot uid ----------------------------------


@pytest.mark.parametrize(
    "isolation",
    # test_sandbox.py covers "namespaces" threat by threat; this repeats the whole catalogue
    [pytest.param("namespaces", marks=pytest.mark.slow), "landlock", UNSAFE],
)
def test_hostile_programs_as_root(isolation, stage, listener, caplog):
    need_root()
    if isolation == "landlock":
        need_landlock()

    class Portable(Sandbox):
        interpreter = portable_python() or sys.executable

    if isolation != "namespaces":
        need(portable_python() is not None, "no Python every user can read")
    sandbox = Portable(SandboxConfig(isolation=isolation, workers=2, timeout_seconds=TIMEOUT))
    assert sandbox.isolation == isolation and sandbox.drop_uid
    assert ("SANDBOX UNSAFE" in caplog.text) == (isolation == UNSAFE)  # the opt-out is loud
    assert "unprivileged_uid" in sandbox.protections and "seccomp_filter" in sandbox.protections
    results = run_catalogue(sandbox, Context(**stage, evaluator=os.getpid()))
    check_all(results, isolation)
    assert sandbox.run("assert sum(range(10)) == 45\n").passed  # the evaluator keeps going
    uids = {sandbox.config.uid_base + slot for slot in range(sandbox.config.workers)}
    assert alive(lambda process: process.uids().real in uids) == [], "sandbox processes survived"
    assert_no_aftermath(stage, listener[1], isolation)


@pytest.mark.parametrize("isolation", ["auto", "landlock", UNSAFE])
def test_as_root_no_mode_falls_back_to_running_programs_as_root(monkeypatch, isolation):
    """When the per-slot uid cannot run programs, the probe fails; it never retries as root."""
    launched = []

    def launch(self, source, isolation, uid, raise_on_setup=True, capture_bytes=0):
        launched.append(uid)
        return sandbox_module.Execution("failed", "sandbox setup failed: no", 0.0), []

    monkeypatch.setattr(Sandbox, "_launch", launch)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(TritterError, match="refusing to run generated code"):
        Sandbox(SandboxConfig(isolation=isolation, workers=1, uid_base=990_000))
    assert launched and None not in launched and 0 not in launched


def test_an_interpreter_the_uid_cannot_read_is_named_in_one_line():
    need_root()
    hidden = sandbox_module._hidden_from_others(sys.executable)
    if hidden is None:
        pytest.skip("the interpreter is readable by every user here")
    with pytest.raises(TritterError) as raised:
        Sandbox(SandboxConfig(isolation="landlock", workers=1, timeout_seconds=2))
    message = str(raised.value)
    assert "\n" not in message
    assert f"cannot read the interpreter's files under {hidden}" in message


# -- as a non-root uid without namespaces: the shipped deployment ----------------------------------


def test_hostile_programs_as_unprivileged_uid_without_namespaces(stage, listener):
    need_root()
    abi = need_landlock()
    out = drive({"isolation": "auto", "block": ["namespaces"], "context": stage,
                 "extra": [SIGNAL_OWN_CHILD]})  # fmt: skip
    assert out["uid"] == DRIVER_UID
    assert out["isolation"] == "landlock"  # auto: namespaces refused, Landlock next
    protections = set(out["protections"])
    assert {"landlock_filesystem", "seccomp_filter", "process_group_kept",
            "no_new_privs"} <= protections  # fmt: skip
    assert "unprivileged_uid" not in protections  # same uid as the evaluator
    assert ("signals_scoped" in protections) == (abi >= confine.SCOPED_SIGNALS_ABI)
    check_all(out["results"], "landlock")
    assert out["results"]["env_secrets"][1] == "RuntimeError: nothing to steal"  # bystander too
    assert out["survivors"] == []
    assert out["good_after"] and out["secret_still_set"]
    if abi >= confine.SCOPED_SIGNALS_ABI:
        assert out["extra"] == [["passed", ""]]  # it may signal its own children
    assert_no_aftermath(stage, listener[1], "landlock")


@pytest.mark.slow
def test_hostile_programs_on_a_kernel_without_landlock_signal_scoping(stage, listener):
    """Landlock ABI < 6 (Linux < 6.12): seccomp lets signals reach the program process only."""
    need_root()
    need_landlock()
    out = drive({"isolation": "landlock", "block": ["namespaces"], "context": stage,
                 "landlock_abi_cap": 5, "extra": [SIGNAL_OWN_CHILD]})  # fmt: skip
    assert out["isolation"] == "landlock"
    assert "signals_to_self_only" in out["protections"]
    assert "landlock_scoped_signals" not in out["protections"]
    check_all(out["results"], "landlock")
    assert out["survivors"] == []
    assert out["extra"][0][0] == "failed"  # the documented cost: its own children are off limits
    assert_no_aftermath(stage, listener[1], "landlock")


def test_without_namespaces_or_landlock_evaluation_refuses_to_start():
    need_root()
    out = drive({"isolation": "auto", "block": ["namespaces", "landlock"]})
    message = out["error"]
    assert "\n" not in message
    assert message.startswith("sandbox unavailable, refusing to run generated code")
    assert "namespaces:" in message and "needs root or CAP_SYS_ADMIN" in message
    assert "landlock: Landlock missing" in message
    assert f"--sandbox.isolation {UNSAFE}" in message
    out = drive({"isolation": "landlock", "block": ["landlock"]})
    assert "Landlock missing" in out["error"]


@pytest.mark.slow
def test_the_unsafe_opt_out_still_contains_processes_signals_and_the_network(stage, listener):
    """Without Landlock, `unsafe-rlimits-only` is what runs, and only when asked for: the file
    system is open to the program (its name says so), the rest of the catalogue is contained."""
    need_root()
    out = drive({"isolation": UNSAFE, "block": ["namespaces", "landlock"], "context": stage})
    assert out["isolation"] == UNSAFE
    assert "signals_to_self_only" in out["protections"]
    assert not any(p.startswith("landlock") for p in out["protections"])
    check_all(out["results"], UNSAFE)
    # The evaluator made itself undumpable, so its environment stays out of reach; another
    # same-uid process (a pod's KFP launcher) is not protected without Landlock: hence "unsafe".
    leaked = out["results"]["env_secrets"][1]
    assert f"'{out['bystander']}/environ'" in leaked
    assert f"'{out['evaluator']}/" not in leaked
    assert out["survivors"] == []
    assert_no_aftermath(stage, listener[1], UNSAFE)


# -- configuration and the filter itself ----------------------------------------------------------


def test_the_old_rlimits_name_is_refused_with_the_new_one():
    with pytest.raises(ValidationError, match=UNSAFE):
        SandboxConfig(isolation="rlimits")


@pytest.mark.parametrize("machine", sorted(confine.SYSCALLS))
@pytest.mark.parametrize("signals", ["any", "scoped", "self"])
def test_seccomp_program_is_well_formed(machine, signals):
    program = confine.seccomp_program(
        machine, process_rules=signals != "any", signals=signals, own_pid=4321
    )
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    insns = [program[i : i + 8] for i in range(0, len(program), 8)]
    for index, insn in enumerate(insns):
        code, jt, jf = insn[0] | insn[1] << 8, insn[2], insn[3]
        if code & 0x07 == 0x05:  # BPF_JMP: both targets inside the program
            assert index + 1 + max(jt, jf) < len(insns)
    assert insns[-1][:2] == b"\x06\x00"  # ends in a return
    assert set(confine.SYSCALLS["x86_64"]) == set(confine.SYSCALLS["aarch64"])
