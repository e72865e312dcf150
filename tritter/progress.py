"""Progress for long local work: a tqdm bar on a terminal, periodic log lines elsewhere.

Containers log JSON (TRITTER_LOG_FORMAT=json) where a redrawn bar would be noise, so there the
same calls emit a structured progress event at most every `interval` seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tritter import log

T = TypeVar("T")
_log = log.get_logger("progress")


def track(
    items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it",
    interval: float = 30.0,
) -> Iterator[T]:  # fmt: skip
    """Iterate `items`, reporting progress."""
    if sys.stderr.isatty() and not log.json_logs():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, unit=unit, dynamic_ncols=True)
        return
    start = last = time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= interval:
            last = now
            rate = done / max(now - start, 1e-9)
            fields = {"done": done, "rate_per_s": round(rate, 2)}
            if total:
                fields |= {"total": total, "eta_s": round((total - done) / max(rate, 1e-9))}
            log.event(_log, desc or "progress", **fields)
