"""Reward calls in worker processes, each bounded by a wall clock: a reward that raises, hangs,
crashes its process or returns something that is not a finite number scores 0 and is counted
under its kind (`raised`, `timeout`, `invalid`) — it never stops training.

`--reward` names a built-in (`tritter.rl.rewards.BUILTINS`) or `module:function`, importable
from PYTHONPATH. The function is imported in the workers only — fresh interpreters (`python -m
tritter.rl.runner`, in their own session: nothing of the trainer — CUDA, threads, the process
group, its main module — is inherited), never in the trainer: a module that hangs at import is
contained too. `RewardRunner.check()` starts one worker and waits for it to import the
function, so a name that does not resolve is a one-line error before training.

Each worker takes one call at a time over a socket; a call past `timeout` seconds gets its worker
killed (its session: a reward that started children loses them too) and a fresh worker takes
the next call. Workers die with the trainer (PR_SET_PDEATHSIG, and EOF on the socket).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from tritter.errors import TritterError
from tritter.rl.rewards import BUILTINS, RewardFunction, configure

ERROR_KINDS = ("raised", "timeout", "invalid")
_START_SECONDS = 60.0  # a worker's own start (interpreter, imports) on a loaded machine


@dataclass(frozen=True)
class Call:
    prompt: str
    completion: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Scored:
    value: float  # 0 when `error` is set
    error: str | None = None  # raised | timeout | invalid
    detail: str = ""


def describe_builtins() -> str:
    return ", ".join(sorted(BUILTINS))


def check_spec(spec: str) -> None:
    """A one-line error for a reward name that cannot be right whatever PYTHONPATH holds."""
    module, sep, function = spec.partition(":")
    if sep:
        if not module.strip() or not function.strip() or not function.isidentifier():
            raise TritterError(f"--reward {spec!r}: expected module:function")
    elif spec not in BUILTINS:
        raise TritterError(
            f"--reward {spec!r}: unknown reward (built-in: {describe_builtins()}; or "
            "module:function from PYTHONPATH)"
        )


def required_fields(spec: str) -> tuple[str, ...]:
    """Row fields the reward needs (a user's function declares none)."""
    found = BUILTINS.get(spec)
    return found.fields if found is not None else ()


def load(spec: str) -> RewardFunction:
    """The reward function `spec` names (in this process)."""
    check_spec(spec)
    if spec in BUILTINS:
        return BUILTINS[spec].function
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # any import failure is the user's module's
        raise TritterError(
            f"--reward {spec}: cannot import module '{module_name}' ({_one_line(err)})"
        ) from err
    function = getattr(module, name, None)
    if not callable(function):
        raise TritterError(f"--reward {spec}: module '{module_name}' has no function '{name}'")
    return function


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}"[:300]


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def serve(fd: int, spec: str, sandbox: dict[str, Any]) -> None:
    """A worker (`python -m tritter.rl.runner FD SPEC SANDBOX_JSON`): import the function, then
    answer calls on the socket `fd` until it closes."""
    _die_with_parent()
    conn = Connection(fd)
    configure(sandbox)
    try:
        function = load(spec)
    except BaseException as err:  # reported to the trainer, which decides
        conn.send(("load_error", str(err) if isinstance(err, TritterError) else _one_line(err)))
        return
    conn.send(("ready", ""))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        index, prompt, completion, row = message
        try:
            value = function(prompt, completion, row)
        except BaseException as err:  # a reward's failure scores 0
            conn.send((index, "raised", _one_line(err)))
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            conn.send((index, "invalid", f"returned {type(value).__name__}, not a number"))
        elif not math.isfinite(float(value)):
            conn.send((index, "invalid", f"returned {value!r}"))
        else:
            conn.send((index, "ok", float(value)))


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    task: int | None = None
    deadline: float = 0.0


@dataclass
class RewardRunner:
    """Scores completions with the reward `spec` in `workers` processes (see module docstring)."""

    spec: str
    timeout: float
    workers: int = 2
    sandbox: dict[str, Any] = field(default_factory=dict)  # SandboxConfig fields, unit_tests
    errors: Counter[str] = field(default_factory=Counter)  # kind → calls, over this runner
    examples: dict[str, str] = field(default_factory=dict)  # kind → the first detail

    def __post_init__(self) -> None:
        check_spec(self.spec)
        self._pool: list[_Worker | None] = [None] * self.workers

    # -- public --------------------------------------------------------------------------------

    def check(self) -> None:
        """Start one worker and wait until it has imported the function (one-line error if it
        cannot)."""
        self._pool[0] = self._pool[0] or self._start()

    def score(self, calls: Sequence[Call]) -> list[Scored]:
        """One `Scored` per call, in order."""
        results: list[Scored | None] = [None] * len(calls)
        pending = list(range(len(calls)))[::-1]
        while pending or any(w is not None and w.task is not None for w in self._pool):
            for slot, worker in enumerate(self._pool):
                if pending and (worker is None or worker.task is None):
                    worker = worker or self._start()
                    self._pool[slot] = worker
                    index = pending.pop()
                    if not self._send(worker, index, calls[index]):
                        results[index] = self._fail(slot, "raised", "reward worker died")
                        continue
                    worker.task, worker.deadline = index, time.monotonic() + self.timeout
            busy = [w for w in self._pool if w is not None and w.task is not None]
            if not busy:
                continue
            now = time.monotonic()
            ready = wait([w.conn for w in busy], timeout=max(0.0, min(w.deadline for w in busy)
                                                              - now))  # fmt: skip
            for slot, worker in enumerate(self._pool):
                if worker is None or worker.task is None:
                    continue
                index = worker.task
                if worker.conn in ready:
                    results[index] = self._receive(slot, worker)
                elif time.monotonic() >= worker.deadline:
                    results[index] = self._fail(
                        slot, "timeout", f"took more than {self.timeout:g}s"
                    )
        return [r if r is not None else Scored(0.0, "raised", "lost") for r in results]

    def close(self) -> None:
        for slot, worker in enumerate(self._pool):
            if worker is not None:
                with contextlib.suppress(OSError, ValueError):
                    worker.conn.send(None)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(timeout=1.0)
                self._kill(worker)
            self._pool[slot] = None

    # -- internals -----------------------------------------------------------------------------

    def _start(self) -> _Worker:
        parent, child = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "tritter.rl.runner", str(child.fileno()), self.spec,
                 json.dumps(self.sandbox)],
                pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            child.close()
        worker = _Worker(process, Connection(parent.detach()))
        if not worker.conn.poll(max(_START_SECONDS, self.timeout)):
            self._kill(worker)
            raise TritterError(f"--reward {self.spec}: the reward worker did not start in time")
        try:
            kind, detail = worker.conn.recv()
        except (EOFError, OSError) as err:
            self._kill(worker)
            raise TritterError(f"--reward {self.spec}: the reward worker died at start") from err
        if kind != "ready":
            self._kill(worker)
            raise TritterError(detail)
        return worker

    def _send(self, worker: _Worker, index: int, call: Call) -> bool:
        try:
            worker.conn.send((index, call.prompt, call.completion, call.row))
        except (OSError, ValueError):
            return False
        return True

    def _receive(self, slot: int, worker: _Worker) -> Scored:
        try:
            _index, kind, value = worker.conn.recv()
        except (EOFError, OSError):
            return self._fail(slot, "raised", "the reward's process died")
        worker.task = None
        if kind == "ok":
            return Scored(float(value))
        self._count(kind, str(value))
        return Scored(0.0, kind, str(value))

    def _fail(self, slot: int, kind: str, detail: str) -> Scored:
        """Count a failed call and replace its worker (started again on next use)."""
        worker = self._pool[slot]
        if worker is not None:
            self._kill(worker)
        self._pool[slot] = None
        self._count(kind, detail)
        return Scored(0.0, kind, detail)

    def _count(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        """Kill the worker's session (a reward that started processes loses them too)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            worker.process.wait(timeout=5.0)
        with contextlib.suppress(OSError):
            worker.conn.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
