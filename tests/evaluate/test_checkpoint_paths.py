"""`tritter evaluate` finds a checkpoint given by a relative path (a step folder; `final/` with
`./` and a trailing slash), and refuses token shards packed by another tokenizer — as
pretraining does — before the model loads. Real CLI processes on the session's tiny
pretrained model (`base`)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import run_tritter


@pytest.mark.parametrize("relative", ["checkpoints/step-00000030", "./checkpoints/final/"])
def test_a_relative_checkpoint_path_is_found(base, tmp_path, relative):
    done = run_tritter(
        "evaluate", "--checkpoint", relative, "--tokenizer", "tokenizer", "--data", "tokens",
        "--tasks", "perplexity", "--perplexity.max-batches", "1",
        "--output", str(tmp_path / "eval"), cwd=base["root"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert os.path.exists(tmp_path / "eval" / "results.json")


@pytest.fixture(scope="module")
def other_tokenizer(base, tmp_path_factory) -> str:
    """A tokenizer of the same size trained with another seed: in-range ids, other pieces."""
    output = str(tmp_path_factory.mktemp("other") / "tokenizer")
    done = run_tritter(
        "tokenizer", "train", "--input", base["curated"], "--output", output,
        "--vocab-size", "512", "--sample-bytes", "100000", "--seed", "7",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return output


def one_line_error(done) -> str:
    assert done.returncode == 1, done.stdout[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stderr.strip().splitlines()[-1]


def test_shards_of_another_tokenizer_are_refused_by_evaluate_and_pretrain(
    base, other_tokenizer, tmp_path
):
    mismatch = "tokenizer/shard mismatch"
    # final/ carries its tokenizer's sha256 too: the shard check must come first on its own.
    done = run_tritter(
        "evaluate", "--checkpoint", base["checkpoints"], "--tokenizer", other_tokenizer,
        "--data", base["tokens"], "--tasks", "perplexity", "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    line = one_line_error(done)
    assert line.startswith(f"tritter: error: {base['tokens']}: packed with tokenizer sha256")
    assert mismatch in line and "model loaded" not in done.stderr
    done = run_tritter(
        "pretrain", "--data", base["tokens"], "--tokenizer", other_tokenizer,
        "--output", str(tmp_path / "checkpoints"), "--model", "tiny", "--seq-len", "64",
        "--max-steps", "2", "--metrics-port", "0",
    )  # fmt: skip
    assert mismatch in one_line_error(done)
