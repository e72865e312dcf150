"""Training trusts token shards by content: a same-size byte flip in a token file makes
`tritter pretrain` stop (before any checkpoint) with one line naming the shard and the pack
manifest — on one rank, and on two ranks where the other rank hashed the damaged file;
`--no-verify-shards` trains on it. Real `tritter pretrain` processes on a copy of the real packed
test shards; the damage keeps every token id in range, so only the sha256 can see it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from tests.conftest import run_tritter
from tests.support.corrupt import flip_byte
from tests.train.conftest import pretrain_args
from tritter import storage
from tritter.config import validate
from tritter.errors import TritterError
from tritter.loader.stream import read_token_shards
from tritter.manifest import manifest_uri
from tritter.train.config import TrainConfig
from tritter.train.distributed import DistContext
from tritter.train.shard_check import ShardCheck
from tritter.train.store import CheckpointStore


def token_files(tokens: str) -> list[str]:
    """The token files in the order the pack manifest lists them (the order ranks split)."""
    found = read_token_shards(tokens)
    return list(dict.fromkeys(storage.join(tokens, row.tokens) for row in found.extra.shards))


def damaged_copy(packed: dict[str, str], tmp_path, index: int) -> tuple[dict[str, str], str]:
    """`packed` with its tokens folder copied and one byte of the `index`-th token file flipped.
    The low byte of a uint16 token below 512 stays below 512 whatever it becomes, so the
    loader's id-range check cannot see the damage."""
    tokens = str(tmp_path / "tokens")
    shutil.copytree(packed["tokens"], tokens)
    assert read_token_shards(tokens).extra.dtype == "uint16"
    shard = token_files(tokens)[index]
    header = np.lib.format.read_magic(open(shard, "rb"))  # noqa: SIM115
    assert header == (1, 0)  # version 1: the header is padded to a multiple of 64 bytes
    size = storage.size(shard)
    where = flip_byte(shard, offset=(size // 2) & ~1)  # even: a token's low byte
    assert where % 2 == 0 and storage.size(shard) == size
    return {**packed, "tokens": tokens}, shard


def test_a_flipped_token_byte_stops_training_before_any_checkpoint_and_opt_out_trains(
    packed, tmp_path
):
    data, shard = damaged_copy(packed, tmp_path, index=0)
    output = str(tmp_path / "checkpoints")
    args = pretrain_args(data, output, "--max-steps", "2", "--checkpoint.every", "1",
                         "--val-every", "0")  # fmt: skip
    done = run_tritter(*args)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    expected = f"{shard}: sha256 differs from {manifest_uri(data['tokens'])}"
    assert done.stderr.strip().splitlines()[-1].startswith(f"tritter: error: {expected}")
    assert CheckpointStore(output).committed_steps() == []

    # The opt-out trains on the same damaged shard.
    opted_out = run_tritter(*args, "--no-verify-shards")
    assert opted_out.returncode == 0, opted_out.stderr[-3000:]
    assert CheckpointStore(output).committed_steps() == [1, 2]


@pytest.mark.slow
def test_two_ranks_both_stop_on_the_shard_the_other_rank_hashed(packed, tmp_path):
    # Index 1: rank 1 hashes it; rank 0 only learns of it through the agreement.
    data, shard = damaged_copy(packed, tmp_path, index=1)
    output = str(tmp_path / "checkpoints")
    done = run_tritter(*pretrain_args(data, output, "--nproc", "2", "--max-steps", "2",
                                      "--checkpoint.every", "2", "--val-every", "0"))  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    expected = f"tritter: error: {shard}: sha256 differs from {manifest_uri(data['tokens'])}"
    # Both ranks stop with the same line (their stderr may interleave; the launcher's own
    # line comes last).
    assert done.stderr.count(expected) == 2, done.stderr[-3000:]
    assert "training stopped: a rank exited" in done.stderr.strip().splitlines()[-1]
    assert CheckpointStore(output).committed_steps() == []


def test_ranks_split_the_token_files_and_a_single_process_hashes_them_all(packed):
    files = token_files(packed["tokens"])
    assert len(files) >= 4

    def share(rank: int, world_size: int) -> list[str]:
        ctx = DistContext(rank, world_size, rank, world_size, 0, torch.device("cpu"))
        return [uri for uri, _, _ in ShardCheck(packed["tokens"], ctx).mine]

    assert share(0, 1) == files
    assert share(0, 2) == files[0::2] and share(1, 2) == files[1::2]
    single = ShardCheck(packed["tokens"], DistContext(0, 1, 0, 1, 0, torch.device("cpu")))
    single.start().confirm()  # intact shards pass
    assert single.files == len(files) and single.bytes == sum(map(storage.size, files))


def test_verify_shards_is_validated_and_on_by_default():
    base = {"data": "d", "tokenizer": "t", "output": "o", "max_steps": 1}
    assert validate(TrainConfig, base).verify_shards is True
    assert validate(TrainConfig, {**base, "verify_shards": False}).verify_shards is False
    with pytest.raises(TritterError, match="'verify_shards'"):
        validate(TrainConfig, {**base, "verify_shards": "sometimes"})
