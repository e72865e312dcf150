"""A missing real part skips a test on a developer machine and fails it under CI."""

from __future__ import annotations

import pytest

from tests.support.real_parts import need, need_program


def test_missing_part_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI"):
        need(False, "the thing")
    with pytest.raises(pytest.fail.Exception, match="Debian package nothing-here"):
        need_program("tritter-no-such-program", "nothing-here")
    need(True, "the thing")  # present: nothing happens


def test_missing_part_skips_elsewhere(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="the thing"):
        need(False, "the thing")
    monkeypatch.setenv("CI", "0")
    with pytest.raises(pytest.skip.Exception):
        need(False, "the thing")
