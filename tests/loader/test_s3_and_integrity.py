"""TokenLoader on SeaweedFS S3 (byte-range reads, document-index cache) and on damaged data."""

from __future__ import annotations

import itertools
import shutil

import pytest

from tests.loader.test_order_and_resume import make, same, take
from tests.tokenizer.support import widen_model
from tritter import storage
from tritter.errors import TritterError
from tritter.loader import TokenLoader, check_tokenizer
from tritter.tokenizer import Tokenizer


def upload_folder(folder, uri: str) -> str:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        storage.upload_file(path, storage.join(uri, str(path.relative_to(folder))))
    return uri


def test_s3_reads_byte_ranges_and_caches_document_indexes(
    artifacts, s3_bucket, tmp_path, monkeypatch
):
    remote = upload_folder(artifacts.tokens, f"{s3_bucket}/run/tokens")
    reads: list[tuple[str, int, int]] = []
    real_read_range = storage.read_range

    def counting_read_range(uri: str, offset: int, length: int) -> bytes:
        reads.append((uri, offset, length))
        return real_read_range(uri, offset, length)

    monkeypatch.setattr(storage, "read_range", counting_read_range)
    cache = tmp_path / "cache"
    options = {"seed": 5, "micro_batch_size": 8, "with_document_ids": True}
    s3_loader = TokenLoader(remote, split="train", seq_len=64, cache_dir=cache, **options)
    s3_batches = take(s3_loader, 4)
    assert same(s3_batches, take(make(artifacts, **options), 4))
    # token reads are small ranges of the shards (headers and 65-token windows), never whole files
    token_reads = [r for r in reads if r[0].endswith(".tokens.npy")]
    headers = [r for r in token_reads if r[1] == 0]
    windows = [r for r in token_reads if r[1] != 0]
    assert all(r[2] <= 4096 for r in headers)
    assert len(headers) == len({r[0] for r in headers})  # one header read per shard
    assert len(windows) >= 32 and all(r[2] <= 65 * 2 for r in windows)  # uint16 windows
    shard_bytes = sum(p.stat().st_size for p in (artifacts.tokens / "train").rglob("*.tokens.npy"))
    assert sum(r[2] for r in token_reads) < 0.2 * shard_bytes
    # document indexes are downloaded once into the cache, named by their sha256
    cached = sorted(p.name for p in cache.rglob("*.docs.npy"))
    assert cached and all(len(name.split(".")[0]) == 64 for name in cached)
    stamps = {p: p.stat().st_mtime_ns for p in cache.rglob("*.docs.npy")}
    resumed = TokenLoader(remote, split="train", seq_len=64, cache_dir=cache, **options)
    resumed.load_state_dict(s3_loader.state_dict())
    assert same(take(resumed, 2), take(make(artifacts, **options), 6)[4:])
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.docs.npy")} == stamps
    assert s3_loader.tokenizer_sha256 == Tokenizer.load(artifacts.tokenizer).sha256


def test_s3_loader_under_data_loader_workers(artifacts, s3_bucket, tmp_path):
    remote = upload_folder(artifacts.tokens, f"{s3_bucket}/tokens")
    loader = TokenLoader(remote, split="val", seq_len=64, micro_batch_size=4, cache_dir=tmp_path)
    got = list(itertools.islice(iter(loader.data_loader(num_workers=2)), 3))
    assert same(got, take(make(artifacts, split="val"), 3))


@pytest.fixture
def damaged(artifacts, tmp_path):
    folder = tmp_path / "tokens"
    shutil.copytree(artifacts.tokens, folder)
    return folder


def test_truncated_shard(damaged):
    shard = damaged / "train" / "python" / "00000.tokens.npy"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(TritterError, match=r"00000\.tokens\.npy: size .* differs .*truncated"):
        TokenLoader(str(damaged), split="train", seq_len=64, micro_batch_size=2)


def test_missing_shard(damaged):
    (damaged / "train" / "rust" / "00000.docs.npy").unlink()
    with pytest.raises(TritterError, match=r"rust/00000\.docs\.npy: shard listed .* is missing"):
        TokenLoader(str(damaged), split="train", seq_len=64, micro_batch_size=2)


def test_corrupt_token_values(damaged):
    shard = damaged / "train" / "conversations" / "00000.tokens.npy"
    data = bytearray(shard.read_bytes())
    data[-200:] = b"\xff" * 200  # same size, ids 65535 >= vocab 2048
    shard.write_bytes(bytes(data))
    loader = TokenLoader(
        str(damaged), split="train", subset="conversations", seq_len=64, micro_batch_size=64,
        loop=False,
    )  # fmt: skip
    with pytest.raises(TritterError, match=r"conversations/00000\.tokens\.npy: token id 65535"):
        list(loader)


def test_corrupt_header(damaged):
    shard = damaged / "val" / "docs" / "00000.tokens.npy"
    data = bytearray(shard.read_bytes())
    data[:6] = b"NOTNPY"
    shard.write_bytes(bytes(data))
    loader = TokenLoader(str(damaged), split="val", subset="docs", seq_len=8, micro_batch_size=1)
    with pytest.raises(TritterError, match=r"docs/00000\.tokens\.npy: not a valid \.npy shard"):
        next(iter(loader))


def test_tokenizer_mismatch(artifacts, tmp_path):
    check_tokenizer(str(artifacts.tokens), Tokenizer.load(artifacts.tokenizer))
    check_tokenizer(str(artifacts.tokens), str(artifacts.tokenizer))
    other = tmp_path / "tokenizer.model"
    other.write_bytes(widen_model((artifacts.tokenizer / "tokenizer.model").read_bytes(), 2100))
    with pytest.raises(TritterError, match="tokenizer/shard mismatch"):
        check_tokenizer(str(artifacts.tokens), str(other))


def test_bad_arguments(artifacts):
    with pytest.raises(
        TritterError, match="seq_len 1000000 is larger than the 'val'/docs token stream"
    ):
        TokenLoader(str(artifacts.tokens), split="val", subset="docs", seq_len=1_000_000,
                    micro_batch_size=1)  # fmt: skip
    with pytest.raises(TritterError, match="no 'test' shards"):
        TokenLoader(str(artifacts.tokens), split="test", seq_len=8, micro_batch_size=1)
    with pytest.raises(TritterError, match="no 'train' shards for subset 'go'"):
        TokenLoader(str(artifacts.tokens), subset="go", seq_len=8, micro_batch_size=1)
    with pytest.raises(TritterError, match="rank 2 is not in range"):
        TokenLoader(str(artifacts.tokens), seq_len=8, micro_batch_size=1, rank=2, world_size=2)
    with pytest.raises(TritterError, match=r"no _manifest\.json"):
        TokenLoader(str(artifacts.curated / "nowhere"), seq_len=8, micro_batch_size=1)
