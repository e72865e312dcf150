"""Bad input to `tritter pretrain`: one `tritter: error:` line naming the problem, exit 1,
before any training step (so no metrics.jsonl and no checkpoint appear)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.train.conftest import pretrain_args
from tritter import cli, storage


def fails(capsys, args: list[str], pattern: str, output: str | None = None) -> None:
    assert cli.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("tritter: error: "), err
    assert pattern in err[-1], err[-1]
    if output is not None and os.path.isdir(output):
        assert not os.path.exists(os.path.join(output, "metrics.jsonl"))


@pytest.fixture
def output(tmp_path) -> str:
    return str(tmp_path / "run" / "checkpoints")


def test_missing_data_and_tokenizer(packed, output, capsys):
    missing = pretrain_args(packed, output, "--max-steps", "1")
    missing[missing.index("--data") + 1] = "/nonexistent/tokens"
    fails(capsys, missing, "/nonexistent/tokens: --data not found", output)
    missing = pretrain_args(packed, output, "--max-steps", "1")
    missing[missing.index("--tokenizer") + 1] = packed["curated"]  # a folder without a model
    fails(capsys, missing, "tokenizer.model: tokenizer model not found", output)
    fails(capsys, pretrain_args(packed, output), "give --max-steps or --token-budget")


def test_vocab_mismatch(packed, output, capsys):
    fails(
        capsys,
        pretrain_args(packed, output, "--max-steps", "1", "--model", "125m"),
        "vocab mismatch: tokenizer has 512 tokens, model preset '125m' has 32000",
        output,
    )
    fails(capsys, pretrain_args(packed, output, "--max-steps", "1", "--vocab-size", "256"),
          "vocab mismatch: tokenizer has 512 tokens, --vocab-size is 256", output)  # fmt: skip


def test_model_too_big_for_declared_memory(packed, output, capsys):
    fails(capsys, pretrain_args(packed, output, "--max-steps", "1", "--model", "7b",
                                "--vocab-size", "32000", "--memory-gb", "80"),
          "model preset '7b' needs ~", output)  # fmt: skip


def test_cuda_requested_without_a_gpu(packed, output, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    args = pretrain_args(packed, output, "--max-steps", "1", "--device", "cuda", "--nproc", "2")
    fails(capsys, args, "--device cuda: CUDA is not available")


def test_unwritable_output(packed, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fails(capsys, pretrain_args(packed, str(blocker / "checkpoints"), "--max-steps", "1"),
          "cannot create folder")  # fmt: skip


def test_corrupt_checkpoint(packed, output, capsys):
    step = storage.join(output, "step-00000002")
    storage.write_bytes(storage.join(step, ".metadata"), b"garbage, not a DCP metadata file")
    storage.write_bytes(storage.join(step, "trainer_state.pt"), b"garbage")
    marker = {"step": 2, "world_size": 1, "files": [".metadata", "trainer_state.pt"],
              "sizes": {".metadata": 32, "trainer_state.pt": 7}}  # fmt: skip
    storage.write_text(storage.join(step, "_COMMITTED"), json.dumps(marker))
    fails(capsys, pretrain_args(packed, output, "--max-steps", "4"),
          "step-00000002: corrupt checkpoint: unreadable .metadata", output)  # fmt: skip
    # A committed file that went missing.
    os.remove(os.path.join(step, "trainer_state.pt"))
    fails(capsys, pretrain_args(packed, output, "--max-steps", "4"),
          "corrupt checkpoint: committed file trainer_state.pt is missing", output)  # fmt: skip


def test_job_entrypoint_exit_code_and_single_line_from_a_real_process(packed, output):
    args = pretrain_args(packed, output, "--max-steps", "1", "--nproc", "2", "--model", "3b")
    # The container entrypoint takes the flags of `tritter pretrain` (without the subcommand).
    result = subprocess.run(
        [sys.executable, "-m", "tritter.jobs.pretrain", *args[1:]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tritter: error: "), result.stderr
    assert "vocab mismatch" in lines[0]
