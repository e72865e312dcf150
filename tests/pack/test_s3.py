"""The whole tokenizer → pack chain against SeaweedFS S3: s3:// in, s3:// out, same bytes as
the local run, relaunch a no-op."""

from __future__ import annotations

import json

from tests.conftest import run_tritter
from tests.support.curated import write_curated
from tests.tokenizer.support import corpus_documents, pack_args, run_in_process, train_args
from tritter import storage


def test_tokenizer_and_pack_on_s3(artifacts, s3_bucket, s3_env):
    curated = write_curated(f"{s3_bucket}/run/curated", corpus_documents(), shards=3)
    tokenizer = f"{s3_bucket}/run/tokenizer"
    tokens = f"{s3_bucket}/run/tokens"

    trained = run_in_process(*train_args(curated, tokenizer))  # s3_env set in this process
    assert trained.returncode == 0, trained.stderr
    local_model = (artifacts.tokenizer / "tokenizer.model").read_bytes()
    assert storage.read_bytes(f"{tokenizer}/tokenizer.model") == local_model  # deterministic

    packed = run_tritter(*pack_args(curated, tokenizer, tokens), "--workers", "1", env=s3_env)
    assert packed.returncode == 0, packed.stderr
    remote = json.loads(storage.read_text(f"{tokens}/_manifest.json"))
    local = json.loads((artifacts.tokens / "_manifest.json").read_text())
    assert remote["files"] == local["files"]  # same paths, sizes and sha256
    assert remote["counts"]["tokens"] == local["counts"]["tokens"]
    assert remote["inputs"]["tokenizer"] == tokenizer
    listed = {o.uri.rsplit("/tokens/", 1)[1] for o in storage.list_objects(tokens)}
    assert listed == {e["path"] for e in local["files"]} | {"_manifest.json"}  # no _work left

    again = run_in_process(*pack_args(curated, tokenizer, tokens))
    assert again.returncode == 0, again.stderr
    assert "already complete" in again.stderr
