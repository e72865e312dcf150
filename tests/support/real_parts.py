"""Real parts a test drives (Prometheus, the Pushgateway, Chromium, namespace isolation).

On a developer machine without one, the test skips and says what to install. Under CI (`CI` set,
as `.ci/run` does) a missing part fails the test instead: CI must exercise the real thing, and a
silent skip there would hide that it never ran.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def need(available: bool, what: str) -> None:
    """Skip (or under CI, fail) unless `available`; `what` names the part and how to get it."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{what} (required under CI)", pytrace=False)
    pytest.skip(what)


def need_program(name: str, package: str) -> str:
    """The path of a program, or skip/fail naming the Debian package that provides it."""
    path = shutil.which(name)
    need(path is not None, f"`{name}` not found: install the Debian package {package}")
    assert path is not None
    return path
