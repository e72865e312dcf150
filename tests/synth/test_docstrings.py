"""`tritter synth docstrings`: the embedded instruction set from the standard library."""

from __future__ import annotations

import json
import re

from tests.conftest import run_tritter
from tritter.chat import read_conversations
from tritter.run_folder import IDENTITY_CONVERSATIONS, SYNTH_DOCSTRINGS_MANIFEST


def test_docstring_conversations_are_valid_deterministic_and_licensed(tmp_path):
    first, again = str(tmp_path / "a"), str(tmp_path / "b")
    for output in (first, again):
        done = run_tritter("synth", "docstrings", "--output", output, "--count", "200")
        assert done.returncode == 0, done.stderr
    text = (tmp_path / "a" / IDENTITY_CONVERSATIONS).read_text()
    assert text == (tmp_path / "b" / IDENTITY_CONVERSATIONS).read_text()
    read = read_conversations(first)
    assert len(read.conversations) == 200 and read.skipped_rows == 0
    rows = [json.loads(line) for line in text.splitlines()]
    assert {row["license"] for row in rows} == {"psf-2.0"}
    assert len({row["messages"][0]["content"] for row in rows}) == 200
    # Every answer carries the callable's real signature, from this interpreter.
    for row in rows[:20]:
        question, answer = row["messages"][0]["content"], row["messages"][1]["content"]
        name = re.search(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", question).group(0)
        assert f"`{name}(" in answer
    found = SYNTH_DOCSTRINGS_MANIFEST.require(first)
    assert found.counts.conversations == 200 and found.counts.documented >= 200
    # Relaunch: nothing rewritten.
    before = (tmp_path / "a" / "_manifest.json").read_text()
    assert run_tritter("synth", "docstrings", "--output", first, "--count", "200").returncode == 0
    assert (tmp_path / "a" / "_manifest.json").read_text() == before
