"""Fault injection for the resume tests: `TRITTER_FAULT=kill:rank=R:step=S[:phase=P]`.

The named rank SIGKILLs itself when it reaches phase P (`step`: right after optimizer step S
and its metrics; `commit`: during the save of step S, after its files are written and before
the commit marker) — a crash at a chosen point, as real as an OOM kill or a node loss.
"""

from __future__ import annotations

import os
import signal

from tritter.errors import TritterError

ENV = "TRITTER_FAULT"


def parse(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    kind, *items = text.split(":")
    fields = dict(item.split("=", 1) for item in items if "=" in item)
    if kind != "kill" or "rank" not in fields or "step" not in fields:
        raise TritterError(f"{ENV}={text!r}: expected kill:rank=R:step=S[:phase=step|commit]")
    fields.setdefault("phase", "step")
    return fields


class FaultInjector:
    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.spec = parse(os.environ.get(ENV))

    def __call__(self, phase: str, step: int) -> None:
        spec = self.spec
        if (
            spec is not None
            and spec["phase"] == phase
            and int(spec["rank"]) == self.rank
            and int(spec["step"]) == step
        ):
            os.kill(os.getpid(), signal.SIGKILL)
