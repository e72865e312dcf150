"""A stage that fails before it writes anything leaves no empty output folder: the
writability probe removes the folders it had to create."""

from __future__ import annotations

import pytest

from tests.conftest import run_tritter
from tritter import storage


def test_the_writability_probe_leaves_no_trace(tmp_path):
    storage.ensure_writable(str(tmp_path / "run" / "curated"))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    storage.ensure_writable(str(tmp_path / "kept"))
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]
    assert list((tmp_path / "kept").iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ("curate", "--input", "{missing}", "--output", "{run}/curated"),
        ("tokenizer", "train", "--input", "{missing}", "--output", "{run}/tokenizer"),
        ("pack", "--input", "{missing}", "--tokenizer", "{missing}", "--output", "{run}/tokens",
         "--seq-len", "64"),
    ],
    ids=["curate", "tokenizer", "pack"],
)  # fmt: skip
def test_a_failed_stage_leaves_no_output_folder(tmp_path, args):
    names = {"missing": str(tmp_path / "missing"), "run": str(tmp_path / "run")}
    done = run_tritter(*(arg.format(**names) for arg in args))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("tritter: error: ")
    assert not (tmp_path / "run").exists()
