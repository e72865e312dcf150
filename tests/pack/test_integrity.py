"""Shards are trusted by content, not size: a same-size byte flip in a curated Parquet shard
stops `tritter tokenizer train` and `tritter pack` before they read it (locally and on S3), a
flipped token shard stops a pack relaunch (sha256 is checked by default, `--no-verify` skips
it) and a flipped document index stops the loader — each a one-line error naming the file and
its manifest. Real CLI processes on the real test corpus."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import run_tritter
from tests.support.corrupt import flip_byte
from tests.train.data import build
from tritter import storage
from tritter.errors import TritterError
from tritter.manifest import MANIFEST_NAME

PACK = ("--seq-len", "64", "--mix", "python=0.7,rust=0.1,docs=0.1,conversations=0.1",
        "--val-fraction", "0.05", "--shard-tokens", "20000", "--workers", "1")  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    return build(tmp_path_factory.mktemp("integrity"))


def one_line_error(done) -> str:
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("tritter: error: "), done.stderr[-2000:]
    return last


def test_corrupt_curated_shard_stops_tokenizer_and_pack(data, tmp_path):
    curated = str(tmp_path / "curated")
    shutil.copytree(data["curated"], curated)
    shard = storage.join(curated, "part-00001.parquet")
    flip_byte(shard)
    expected = f"{shard}: sha256 differs from {storage.join(curated, MANIFEST_NAME)}"

    done = run_tritter("tokenizer", "train", "--input", curated, "--output",
                       str(tmp_path / "tokenizer"), "--vocab-size", "512",
                       "--sample-bytes", "100000")  # fmt: skip
    assert expected in one_line_error(done)
    done = run_tritter("pack", "--input", curated, "--tokenizer", data["tokenizer"],
                       "--output", str(tmp_path / "tokens"), *PACK)  # fmt: skip
    assert expected in one_line_error(done)


def test_corrupt_token_shard_stops_relaunch_and_loader(data, tmp_path):
    tokens = str(tmp_path / "tokens")
    args = ("pack", "--input", data["curated"], "--tokenizer", data["tokenizer"], "--output",
            tokens, *PACK)  # fmt: skip
    assert run_tritter(*args).returncode == 0
    again = run_tritter(*args)
    assert again.returncode == 0 and "verified, skipping" in again.stderr, again.stderr[-2000:]

    shard = storage.join(tokens, "train", "python", "00002.tokens.npy")
    flip_byte(shard)  # a token id in the middle of the shard: in range, same size
    line = one_line_error(run_tritter(*args))
    assert f"{shard}: sha256 differs from {storage.join(tokens, MANIFEST_NAME)}" in line
    unchecked = run_tritter(*args, "--no-verify")  # sizes only, as before
    assert unchecked.returncode == 0, unchecked.stderr[-2000:]

    from tritter.loader import TokenLoader

    docs = storage.join(tokens, "train", "python", "00000.docs.npy")
    flip_byte(docs, offset=storage.size(docs) - 3)  # a high byte of the last boundary
    loader = TokenLoader(tokens, seq_len=64, micro_batch_size=4, with_document_ids=True,
                         loop=False, split="train", subset="python")  # fmt: skip
    with pytest.raises(TritterError, match="sha256 differs") as caught:
        list(loader)
    assert str(caught.value).startswith(docs)
    assert storage.join(tokens, MANIFEST_NAME) in str(caught.value)


def test_corrupt_curated_shard_on_s3_stops_pack(data, s3_bucket, s3_env, tmp_path):
    curated = f"{s3_bucket}/run/curated"
    storage.upload_folder(data["curated"], curated)
    shard = f"{curated}/part-00000.parquet"
    flip_byte(shard)
    done = run_tritter("pack", "--input", curated, "--tokenizer", data["tokenizer"],
                       "--output", str(tmp_path / "tokens"), *PACK, env=s3_env)  # fmt: skip
    assert f"{shard}: sha256 differs from {curated}/{MANIFEST_NAME}" in one_line_error(done)
