"""Process pools whose workers die with the process that started them.

A `ProcessPoolExecutor` worker outlives a parent killed with SIGKILL: init adopts it and it
goes on packing or curating, writing files that race a relaunch of the same stage. On Linux
every worker here asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`), then
checks that the parent did not die before that request (it would then have been adopted
already, and no signal would ever come). Workers only ever publish files atomically (a hidden
temp file renamed into place, `tritter.storage`), so a worker killed mid-write leaves at most a
hidden temp file that no listing shows, never a half-written one.

The signal follows the thread that created the worker: pools must be used (`submit`) from the
main thread, as every stage does. Elsewhere than Linux the pool is a plain one.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

PR_SET_PDEATHSIG = 1


def process_pool(
    workers: int,
    method: str,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> ProcessPoolExecutor:
    """A pool of `workers` processes started with `method` (fork or spawn) that die with this
    process; `initializer(*initargs)` then runs in each, as with ProcessPoolExecutor."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_die_with_parent,
        initargs=(os.getpid(), initializer, initargs),
    )


def _die_with_parent(
    parent: int, initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]
) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)
    if initializer is not None:
        initializer(*initargs)
