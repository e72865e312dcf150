"""Fixtures for the training tests: one small real packed dataset per session."""

from __future__ import annotations

import pytest

from tests.train.data import build


@pytest.fixture(scope="session")
def packed(tmp_path_factory) -> dict[str, str]:
    """curated/, tokenizer/ (512 tokens) and tokens/ (seq_len 64, val split per subset)."""
    return build(tmp_path_factory.mktemp("train-data"))


def pretrain_args(packed: dict[str, str], output: str, *extra: str) -> list[str]:
    """The common flags of the test runs: tiny model, 64-token samples, 4-sample micro batches."""
    return [
        "pretrain",
        "--data", packed["tokens"],
        "--tokenizer", packed["tokenizer"],
        "--output", output,
        "--model", "tiny",
        "--seq-len", "64",
        "--micro-batch-size", "4",
        "--val-batches", "2",
        "--metrics-port", "0",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def hf_base(packed, tmp_path_factory) -> dict[str, str]:
    """A base model shaped like BitNet b1.58 2B4T (`tests.support.hf_base`): base/ (config.json,
    model.safetensors, tokenizer.json) and tokens/ packed with its tokenizer."""
    from tests.conftest import run_tritter
    from tests.support.hf_base import build_hf_base
    from tests.tokenizer.support import pack_args

    root = tmp_path_factory.mktemp("base")
    folder = build_hf_base(root / "base")
    tokens = root / "tokens"
    done = run_tritter(*pack_args(packed["curated"], folder, tokens), "--workers", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    return {"base": str(folder), "tokens": str(tokens), "root": str(root)}
