"""Run untrusted generated programs, one fresh process each, inside resource and isolation limits.

Each program goes to `sandbox_init.py` (a small stdlib-only bootstrap) started with a scrubbed
environment in a new session. Generated code never runs as root: as root, worker slot i runs it
as uid `uid_base + i`; otherwise it runs as the evaluator's uid, confined as below. Isolations:

* "namespaces" — root or CAP_SYS_ADMIN (a privileged container, CI): new mount, network, pid,
  ipc and uts namespaces, read-only host filesystem, private tmpfs, unprivileged uid, seccomp.
* "landlock" — what the shipped deployment gets (uid 1000, no capabilities, no user namespaces,
  the runtime's default seccomp profile, allowPrivilegeEscalation false): no_new_privs, a Landlock
  domain and a seccomp filter (`confine.py`), all unprivileged. Needs Linux >= 5.13 with
  Landlock enabled (ABI 6, Linux >= 6.12, adds signal scoping; before it seccomp allows signals
  only to the program process itself).
* "auto" (default) — the first of those two that runs a probe program end to end. If neither
  does, the evaluator refuses to start, naming what each lacks.
* "unsafe-rlimits-only" — the explicit, loudly named opt-out: resource limits, the scrubbed
  environment and the seccomp filter, but the program can read whatever the evaluator's uid can
  (its files, other same-uid processes' /proc entries) and write wherever that uid may.

| threat                        | "namespaces" (NS) / "landlock" (LL)                            |
|-------------------------------|----------------------------------------------------------------|
| infinite loop, sleeping       | RLIMIT_CPU (SIGXCPU, then SIGKILL) and the wall-clock limit    |
| memory hog                    | RLIMIT_AS per process (MemoryError or a failed allocation)     |
| fork bomb                     | RLIMIT_NPROC. NS: of a per-slot uid; the pid namespace dies    |
|                               | with its pid 1. LL: the uid's tasks now + max_processes        |
| outliving the sample (setsid  | NS: the kernel kills the pid namespace when its pid 1 ends.    |
| daemons, double forks)        | LL: seccomp refuses setsid/setpgid, so every descendant stays  |
|                               | in the session's process group; the supervisor, then the       |
|                               | evaluator, kill the group (kill(-pgid) is atomic with fork)    |
| writes outside its directory  | NS: the host is remounted read-only, /tmp a private tmpfs.     |
|                               | LL: Landlock grants write rights on its fresh work dir only    |
| reading the evaluator's files | NS: the uid owns nothing; private /proc. LL: Landlock allows   |
| or the service-account token  | reads of /usr, /lib*, /bin, /sbin, /etc, the interpreter and   |
|                               | exposed dirs only: no /proc, /sys, /var, /run, /home, /tmp     |
| the evaluator's environment   | the program's environment is replaced (PATH, LANG, HOME,       |
| (S3 keys) and memory          | TMPDIR). NS: private /proc. LL: a Landlock domain refuses      |
|                               | ptrace access (/proc/*/environ, /mem) to processes outside it; |
|                               | the evaluator and the supervisor are also PR_SET_DUMPABLE 0    |
| network access                | seccomp refuses socket() (socketpair(AF_UNIX) stays) and       |
|                               | io_uring. NS: no interface up. LL: Landlock TCP rules (ABI 4+) |
| signalling the evaluator or   | NS: the pid namespace. LL: Landlock signal scoping (ABI 6+),   |
| anything else (kill -1)       | else seccomp lets kill/tgkill reach the program process only;  |
|                               | F_SETOWN, FIOSETOWN, pidfd_send_signal refused                 |
| ptrace, process_vm_*, mounts, | seccomp                                                        |
| namespaces, bpf, keyrings     |                                                                |
| setuid binaries               | PR_SET_NO_NEW_PRIVS                                            |
| fd exhaustion, core dumps     | RLIMIT_NOFILE, RLIMIT_CORE = 0                                 |
| huge files, a full disk       | RLIMIT_FSIZE; NS: the work directory is a size-capped tmpfs    |

Limits of "landlock": /etc is readable (the image's configuration; mount no secrets there);
other same-uid tasks on the node that this pid namespace does not show count against
RLIMIT_NPROC, so forks may fail early (run the evaluator under a uid of its own); without
signal scoping a program cannot signal its own children either. In both modes /dev/shm is out of
reach, so multiprocessing's locks (Pool, Queue) fail; threads, asyncio and subprocess work.
RLIMIT_AS is per process, so a program's total memory is bounded by max_processes × memory_mb;
the pod's memory limit bounds the sum. Deploy the evaluator with the chart's NetworkPolicy
(egress to DNS, Kubeflow and S3 only) as a second wall. `Sandbox.protections` lists what is
active; it is logged and written to results.json.

The pass/fail report travels on a pipe the program could write to as well: the sandbox contains
a hostile program, it does not stop one from forging its own score.

`Sandbox(config, expose=[...])` lets programs read (and execute from) a few more host
directories — a compiler's toolchain, the site-packages that hold numpy — that may sit where the
unprivileged uid cannot enter (e.g. under /root). Under "namespaces" each is bind-mounted
read-only, nosuid and nodev into the private tmpfs (`visible_path` says where); otherwise
programs use the paths as they are (Landlock grants read and execute on them), so the uid must
be able to read them. Every limit above still applies to whatever a program starts from there.
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
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tritter import log
from tritter.errors import TritterError
from tritter.evaluate import confine
from tritter.evaluate.config import UNSAFE, SandboxConfig

BOOTSTRAP = Path(__file__).with_name("sandbox_init.py")
EXPOSED_MOUNTS = "/tmp/.host"  # sandbox_init.EXPOSED_MOUNTS (where exposed directories appear)
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

    interpreter = sys.executable  # runs the bootstrap (tests: one every uid can read)
    _landlock_abi_cap: int | None = None  # tests: behave as a kernel with this Landlock ABI

    def __init__(self, config: SandboxConfig | None = None, expose: Sequence[str] = ()) -> None:
        self.config = config or SandboxConfig()
        # Host directories programs may read and execute from (see the module docstring).
        self.expose = tuple(dict.fromkeys(os.path.realpath(d) for d in expose))
        for directory in self.expose:
            if not os.path.isdir(directory):
                raise TritterError(f"sandbox: cannot expose {directory}: not a directory")
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
        described = {"isolation": self.isolation, "protections": self.protections,
                     "limits": limits}  # fmt: skip
        if self.expose:
            described["exposed"] = list(self.expose)
        return described

    def visible_path(self, path: str) -> str:
        """Where `path`, inside one of the exposed directories, appears to programs."""
        real = os.path.realpath(path)
        for index, directory in enumerate(self.expose):
            if real == directory or real.startswith(directory.rstrip("/") + "/"):
                if self.isolation != "namespaces":
                    return real
                return f"{EXPOSED_MOUNTS}/{index}{real[len(directory.rstrip('/')) :]}"
        raise TritterError(f"sandbox: {path} is not under an exposed directory")

    # -- internals ----------------------------------------------------------------------------

    def _uid(self, slot: int) -> int | None:
        return self.config.uid_base + slot if self.drop_uid else None

    def _probe(self) -> tuple[str, bool, list[str]]:
        """Find the strongest isolation that runs a small stdlib program end to end, or refuse.

        Generated code never runs as root: as root every isolation runs it as the per-slot uid
        (and fails here when that uid cannot work, e.g. cannot read the interpreter). Without
        any isolation that holds, evaluation stops with one line naming what each one lacks;
        only the explicit "unsafe-rlimits-only" runs programs with resource limits alone.
        """
        wanted = self.config.isolation
        candidates = ["namespaces", "landlock"] if wanted == "auto" else [wanted]
        uid = self.config.uid_base if self._root else None
        failures = []
        for isolation in candidates:
            execution, protections = self._launch(
                _PROBE_PROGRAM, isolation, uid, raise_on_setup=False
            )
            if execution.passed:
                if isolation == UNSAFE:
                    log.event(
                        _log, "SANDBOX UNSAFE: isolation unsafe-rlimits-only — generated code "
                        "can read the evaluator's files, write where its uid may and signal "
                        "same-uid processes; only resource limits and the seccomp filter apply",
                        level=logging.WARNING, protections=",".join(protections),
                    )  # fmt: skip
                elif failures:
                    log.event(_log, "sandbox: stronger isolation unavailable",
                              level=logging.WARNING, reasons="; ".join(failures))  # fmt: skip
                if uid is None and isolation != "namespaces":
                    # Programs share this process's uid: keep them out of its /proc entries
                    # (environ with the S3 keys, mem) even without Landlock.
                    confine.set_undumpable()
                return isolation, uid is not None, protections
            reason = execution.reason.removeprefix("sandbox setup failed: ")
            failures.append(f"{isolation}: {reason}{self._hint(isolation, reason, uid)}")
        opt_out = (
            "; to run generated code with resource limits only (it can then read the "
            "evaluator's files and write where its uid may) pass --sandbox.isolation "
            f"{UNSAFE}"
            if wanted != UNSAFE
            else ""
        )
        raise TritterError(f"sandbox unavailable, refusing to run generated code "
                           f"({'; '.join(failures)}){opt_out}")  # fmt: skip

    def _hint(self, isolation: str, reason: str, uid: int | None) -> str:
        """What to change, for the probe's one-line error."""
        if isolation == "namespaces" and "unshare" in reason:
            return " (needs root or CAP_SYS_ADMIN)"
        if uid is not None:
            hidden = _hidden_from_others(self.interpreter)
            if hidden:
                return (f" (uid {uid} cannot read the interpreter's files under {hidden}: "
                        "install Python where every user can read it)")  # fmt: skip
        return ""

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
            "expose": list(self.expose),
            "landlock_abi_cap": self._landlock_abi_cap,
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
                [self.interpreter, "-I", "-S", "-B", str(BOOTSTRAP)],
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


def _hidden_from_others(path: str) -> str | None:
    """The first directory on the way to `path` that other users cannot enter, if any."""
    current = Path(os.path.realpath(path))
    for directory in reversed(current.parents):
        try:
            if not directory.stat().st_mode & 0o001:
                return str(directory)
        except OSError:
            return str(directory)
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
