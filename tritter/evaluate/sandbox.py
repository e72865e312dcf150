"""Run untrusted generated programs, one fresh process each, inside resource and isolation limits.

Each program goes to `sandbox_init.py` (a small stdlib-only bootstrap) started with a scrubbed
environment in a new session. What protects against what (isolation "namespaces", used when the
evaluator runs as root or holds CAP_SYS_ADMIN, e.g. a privileged container or this CI machine):

| threat                          | protection                                                   |
|---------------------------------|--------------------------------------------------------------|
| infinite loop / sleep forever   | RLIMIT_CPU (SIGXCPU, then SIGKILL) and a wall-clock limit    |
| memory hog                      | RLIMIT_AS per process (MemoryError or a failed allocation)   |
| fork bomb                       | RLIMIT_NPROC for a per-slot unprivileged uid; pid namespace: |
|                                 | when the program's pid 1 ends, the kernel kills the rest     |
| huge files / disk filling       | RLIMIT_FSIZE; the work directory is a size-capped tmpfs      |
| writes outside its directory    | the host filesystem is remounted read-only (recursively) and |
|                                 | the uid owns nothing; /tmp is a private tmpfs thrown away    |
| reading secrets from the env    | the environment is replaced (PATH, LANG, HOME, TMPDIR only); |
|                                 | other processes' /proc/*/environ are hidden (private /proc)  |
| network access                  | a new network namespace with no interface up                 |
| killing its parent / evaluator  | a pid namespace (no outside pid is addressable) and a uid    |
|                                 | that may not signal the evaluator's                          |
| setuid binaries                 | PR_SET_NO_NEW_PRIVS                                          |
| fd exhaustion / core dumps      | RLIMIT_NOFILE, RLIMIT_CORE = 0                               |

With isolation "rlimits" (an unprivileged container where unshare is refused) only the resource
limits, the scrubbed environment, a fresh working directory and the session kill remain: the
program can reach the network, write wherever the evaluator's uid may, and signal processes of
the same uid. Run such evaluators in a pod with a read-only root filesystem, a deny-all egress
NetworkPolicy and a memory limit. `Sandbox.protections` lists what is active; it is logged and
written to results.json. RLIMIT_AS is per process, so a program's total memory is bounded by
max_processes × memory_mb; a pod or cgroup memory limit bounds the sum.

The pass/fail report travels on a pipe the program could write to as well: the sandbox contains
a hostile program, it does not stop one from forging its own score.
"""

from __future__ import annotations

import contextlib
import json
import logging
import marshal
import os
import queue
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tritter import log
from tritter.errors import TritterError
from tritter.evaluate.config import SandboxConfig

BOOTSTRAP = Path(__file__).with_name("sandbox_init.py")
_OUTPUT_CAP = 64 * 1024  # bytes kept from each of the bootstrap's pipes
_GRACE_SECONDS = 5.0  # on top of the wall limit, for the supervisor's own start and report
_PROBE_PROGRAM = (
    "import math, re, collections, heapq, itertools, functools, string, json\n"
    "with open('probe.txt', 'w') as handle:\n"
    "    handle.write('ok')\n"
)
_log = log.get_logger("evaluate.sandbox")


@dataclass(frozen=True)
class Execution:
    """The outcome of one program.

    status: "passed" (ran to its end), "failed" (raised, exited early, was killed by a limit)
    or "timeout" (wall or CPU limit). `reason` is one short line: the exception, the limit hit.
    """

    status: str
    reason: str
    wall_seconds: float
    cpu_seconds: float = 0.0
    max_rss_kb: int = 0
    output: str = ""  # what the program printed (stdout and stderr), when asked to capture it

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class Sandbox:
    """Runs programs with `config`'s limits; probes the isolation available on construction."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._root = os.geteuid() == 0
        self._slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(self.config.workers):
            self._slots.put(slot)
        self.isolation, self.drop_uid, self.protections = self._probe()
        log.event(
            _log, "sandbox ready",
            isolation=self.isolation, protections=",".join(self.protections),
            workers=self.config.workers,
        )  # fmt: skip

    # -- public -------------------------------------------------------------------------------

    def run(self, source: str, capture_bytes: int = 0) -> Execution:
        """Run one program (blocking); takes a free worker slot, so it is thread-safe. With
        `capture_bytes`, the first that many bytes it prints come back in `output`."""
        slot = self._slots.get()
        try:
            execution, _ = self._launch(
                source, self.isolation, self._uid(slot), capture_bytes=capture_bytes
            )
            return execution
        finally:
            self._slots.put(slot)

    def run_many(self, sources: Iterable[str]) -> Iterator[tuple[int, Execution]]:
        """Run programs `workers` at a time; yields (index, execution) as each finishes."""
        with ThreadPoolExecutor(self.config.workers, thread_name_prefix="sandbox") as pool:
            futures = {pool.submit(self.run, source): index for index, source in enumerate(sources)}
            from concurrent.futures import as_completed

            for future in as_completed(futures):
                yield futures[future], future.result()

    def describe(self) -> dict:
        """What results.json records about the sandbox."""
        limits = self.config.model_dump(exclude={"isolation", "workers", "uid_base"})
        return {"isolation": self.isolation, "protections": self.protections, "limits": limits}

    # -- internals ----------------------------------------------------------------------------

    def _uid(self, slot: int) -> int | None:
        return self.config.uid_base + slot if self.drop_uid else None

    def _probe(self) -> tuple[str, bool, list[str]]:
        """Find the strongest isolation that runs a small stdlib program end to end.

        As root, "auto" never settles for running generated code as root: without namespaces
        it needs the unprivileged uid to work (its RLIMIT_NPROC is what stops a fork bomb;
        root ignores it). Only an explicit `isolation: rlimits` allows root, with a warning.
        """
        wanted = self.config.isolation
        candidates = ["namespaces", "rlimits"] if wanted == "auto" else [wanted]
        failures = []
        for isolation in candidates:
            uids: list[int | None] = [self.config.uid_base] if self._root else [None]
            if self._root and isolation == "rlimits" and wanted == "rlimits":
                uids.append(None)  # e.g. an interpreter under /root the uid cannot read
            for uid in uids:
                execution, protections = self._launch(
                    _PROBE_PROGRAM, isolation, uid, raise_on_setup=False
                )
                if execution.passed:
                    if isolation != "namespaces":
                        log.event(
                            _log, "sandbox degraded: no namespaces, so programs can reach the "
                            "network and write where their uid may", level=logging.WARNING,
                            reasons="; ".join(failures) or "isolation=rlimits requested",
                        )  # fmt: skip
                    if self._root and uid is None:
                        log.event(_log, "sandbox runs generated code AS ROOT (limits only)",
                                  level=logging.WARNING)  # fmt: skip
                    return isolation, uid is not None, protections
                failures.append(f"{isolation}{'' if uid is None else ' as uid ' + str(uid)}: "
                                f"{execution.reason}")  # fmt: skip
        hint = (
            " (as root without namespaces, set --sandbox.isolation rlimits to accept "
            "running generated code as root)"
            if self._root and wanted == "auto"
            else ""
        )
        raise TritterError(f"sandbox unavailable ({'; '.join(failures)}){hint}")

    def _launch(
        self,
        source: str,
        isolation: str,
        uid: int | None,
        raise_on_setup: bool = True,
        capture_bytes: int = 0,
    ) -> tuple[Execution, list[str]]:
        config = self.config
        header = {
            "isolation": isolation,
            "uid": uid,
            "gid": uid,
            "cpu_seconds": max(1, int(config.timeout_seconds + 0.999)),
            "wall_seconds": config.timeout_seconds,
            "memory_bytes": config.memory_mb << 20,
            "max_processes": config.max_processes,
            "max_file_bytes": config.max_file_mb << 20,
            "max_open_files": config.max_open_files,
            "workdir_bytes": config.workdir_mb << 20,
            "workdir": None,
            "capture_bytes": min(max(capture_bytes, 0), _OUTPUT_CAP // 2),
        }
        workdir = None
        if isolation != "namespaces":
            workdir = tempfile.mkdtemp(prefix="tritter-sandbox-")
            if uid is not None:
                os.chown(workdir, uid, uid)
            header["workdir"] = workdir
        encoded = marshal.dumps(header)
        payload = len(encoded).to_bytes(4, "little") + encoded + source.encode("utf-8", "replace")
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        start = time.monotonic()
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(BOOTSTRAP)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env, cwd=workdir or "/", start_new_session=True, close_fds=True,
            )  # fmt: skip
            try:
                stdout, stderr, outer_timeout = _communicate(
                    process, payload, start + config.timeout_seconds + _GRACE_SECONDS
                )
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)  # leftovers of the session
                process.wait()
        finally:
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        wall = time.monotonic() - start
        return _interpret(stdout, stderr, outer_timeout, wall, config, raise_on_setup)


def _communicate(
    process: subprocess.Popen, payload: bytes, deadline: float
) -> tuple[bytes, bytes, bool]:
    """Feed stdin, collect at most _OUTPUT_CAP bytes per pipe, until the bootstrap exits.

    Waits for the process (through a pidfd) rather than for EOF: without namespaces a forked
    grandchild may hold the pipes open forever. Kills the session at the deadline.
    """
    try:
        process.stdin.write(payload)
        process.stdin.close()
    except BrokenPipeError:
        pass
    pidfd = os.pidfd_open(process.pid)
    buffers = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}
    selector = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    selector.register(pidfd, selectors.EVENT_READ)
    exited = timed_out = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                break
            for key, _ in selector.select(timeout=remaining):
                if key.fd == pidfd:
                    exited = True
                    continue
                if not _drain(key.fd, buffers[key.fd]):
                    selector.unregister(key.fd)
            if exited:
                for fd, buffer in buffers.items():
                    _drain(fd, buffer)
                break
    finally:
        selector.close()
        os.close(pidfd)
    out, err = buffers.values()
    return bytes(out), bytes(err), timed_out


def _drain(fd: int, buffer: bytearray) -> bool:
    """Read what is available; False at EOF. Bytes past the cap are read and dropped."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        room = _OUTPUT_CAP - len(buffer)
        if room > 0:
            buffer += chunk[:room]


def _records(stdout: bytes) -> list[dict]:
    records = []
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a program scribbling on the channel
        if isinstance(record, dict):
            records.append(record)
    return records


def _interpret(
    stdout: bytes, stderr: bytes, outer_timeout: bool, wall: float, config: SandboxConfig,
    raise_on_setup: bool,
) -> tuple[Execution, list[str]]:  # fmt: skip
    records = _records(stdout)
    setup = next((r for r in records if r.get("event") == "setup"), None)
    if setup is None:
        # The supervisor failed before starting the program, so this is genuinely the sandbox
        # (no program output can be in the channel yet): the environment cannot run programs.
        error = next((r for r in records if r.get("event") == "setup_error"), None)
        reason = (
            str(error.get("reason"))
            if error
            else (stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        )
        if raise_on_setup and not outer_timeout:
            raise TritterError(f"sandbox setup failed: {reason}")
        return Execution("failed", f"sandbox setup failed: {reason}", wall), []
    protections = [str(p) for p in setup.get("protections", [])]
    exit_record = next((r for r in reversed(records) if r.get("event") == "exit"), None)
    if exit_record is None:
        if outer_timeout:
            reason = f"wall time limit ({config.timeout_seconds:g}s) exceeded"
            return Execution("timeout", reason, wall), protections
        return Execution("failed", "sandbox supervisor died", wall), protections
    # After the fork the channel is shared with the program, so a setup error reported by the
    # program process only fails this sample (a forged one must not stop the evaluation).
    error = next((r for r in records if r.get("event") == "setup_error"), None)
    if error:
        _log.warning("sandbox: program process setup failed: %s", error.get("reason"))
        return Execution("failed", f"sandbox setup failed: {error.get('reason')}", wall), []
    cpu = float(exit_record.get("cpu_seconds", 0.0))
    rss = int(exit_record.get("max_rss_kb", 0))
    program = next((r for r in records if r.get("event") == "program"), None)
    code = int(exit_record.get("exit_code", 1))

    output = str(exit_record.get("output", ""))

    def result(status: str, reason: str) -> tuple[Execution, list[str]]:
        return Execution(status, reason, wall, cpu, rss, output), protections

    if exit_record.get("timed_out"):
        return result("timeout", f"wall time limit ({config.timeout_seconds:g}s) exceeded")
    if program and program.get("status") == "passed" and code == 0:
        return result("passed", "")
    if program and program.get("status") == "failed":
        return result("failed", str(program.get("reason", ""))[:300])
    if code < 0:
        name = _signal_name(-code)
        if -code in (signal.SIGXCPU, signal.SIGKILL) and cpu >= config.timeout_seconds - 0.05:
            return result("timeout", f"CPU time limit ({config.timeout_seconds:g}s) exceeded")
        if -code == signal.SIGXFSZ:
            return result("failed", f"file size limit ({config.max_file_mb} MiB) exceeded")
        return result("failed", f"killed by {name}")
    return result("failed", f"exited with code {code} before finishing")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
