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
