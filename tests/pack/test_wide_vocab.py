"""Vocabularies above 65,536 ids are packed as uint32 and read back by the loader."""

from __future__ import annotations

import numpy as np

from tests.pack.helpers import manifest, shard_arrays
from tests.tokenizer.support import pack_args, run_in_process, widen_model
from tritter.data.shardfile import token_dtype
from tritter.loader import TokenLoader
from tritter.tokenizer import Tokenizer


def test_dtype_choice_boundary():
    assert token_dtype(65_536) == np.uint16  # ids 0..65535
    assert token_dtype(65_537) == np.uint32


def test_wide_vocabulary_packs_uint32(artifacts, tmp_path):
    model = tmp_path / "wide" / "tokenizer.model"
    model.parent.mkdir()
    model.write_bytes(widen_model((artifacts.tokenizer / "tokenizer.model").read_bytes(), 66_000))
    wide = Tokenizer.load(model)
    assert wide.vocab_size == 66_000
    output = tmp_path / "tokens"
    done = run_in_process(*pack_args(artifacts.curated, model, output), "--workers", "1")
    assert done.returncode == 0, done.stderr
    found = manifest(output)
    assert found["extra"]["dtype"] == "uint32"
    assert found["extra"]["vocab_size"] == 66_000
    assert found["extra"]["tokenizer_sha256"] == wide.sha256
    # the same text and decisions as the uint16 pack, only wider
    narrow = list(shard_arrays(artifacts.tokens))
    for (row, tokens, docs), (row16, tokens16, docs16) in zip(
        shard_arrays(output), narrow, strict=True
    ):
        assert row["tokens"] == row16["tokens"]
        assert tokens.dtype == np.uint32
        assert np.array_equal(tokens, tokens16) and np.array_equal(docs, docs16)
    # the loader reads uint32 shards into the same batches
    kwargs = {"split": "train", "seq_len": 64, "micro_batch_size": 4, "seed": 3}
    wide_batch = next(iter(TokenLoader(str(output), **kwargs)))
    narrow_batch = next(iter(TokenLoader(str(artifacts.tokens), **kwargs)))
    assert all(a.equal(b) for a, b in zip(wide_batch, narrow_batch, strict=True))
