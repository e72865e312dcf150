"""The storage layer against a local folder and a real SeaweedFS S3 server."""

from __future__ import annotations

import os

import pytest

from tritter import storage
from tritter.errors import TritterError


@pytest.fixture(params=["local", "file", "s3"])
def root(request, tmp_path):
    """The same tests run on a plain path, a file:// URI and an s3:// bucket."""
    if request.param == "local":
        return str(tmp_path / "root")
    if request.param == "file":
        return f"file://{tmp_path / 'root'}"
    return request.getfixturevalue("s3_bucket") + "/prefix"


def test_write_read_list_range(root):
    a, b = storage.join(root, "a.bin"), storage.join(root, "sub", "b.txt")
    storage.write_bytes(a, bytes(range(256)) * 4)
    storage.write_text(b, "héllo")
    assert storage.read_bytes(a) == bytes(range(256)) * 4
    assert storage.read_text(b) == "héllo"
    assert storage.read_range(a, 250, 10) == bytes(range(250, 256)) + bytes(range(4))
    assert storage.read_range(a, 1020, 100) == bytes(range(252, 256))  # clipped at the end
    assert storage.size(b) == len("héllo".encode())
    listed = storage.list_objects(root)
    assert [storage.basename(o.uri) for o in listed] == ["a.bin", "b.txt"]
    assert [o.size for o in listed] == [1024, 6]
    assert [storage.basename(o.uri) for o in storage.list_objects(root, suffix=".txt")] == ["b.txt"]
    assert [storage.basename(o.uri) for o in storage.list_objects(root, recursive=False)] == [
        "a.bin"
    ]
    assert storage.exists(a) and not storage.exists(storage.join(root, "nope"))


def test_overwrite_is_whole(root):
    uri = storage.join(root, "x.json")
    storage.write_text(uri, "old" * 1000)
    storage.write_text(uri, "new")
    assert storage.read_text(uri) == "new"


def test_create_new_lets_exactly_one_of_racing_writers_win(root):
    """What the takedown journal relies on as its lock: many threads create the same name at
    once; one succeeds, every other gets FileExistsError, and the winner's bytes stay whole."""
    from concurrent.futures import ThreadPoolExecutor

    uri = storage.join(root, "lock", "claim.json")

    def claim(n: int) -> int | None:
        try:
            storage.create_new(uri, f"writer {n}".encode() * 1000)
            return n
        except FileExistsError:
            return None

    with ThreadPoolExecutor(8) as pool:
        won = [n for n in pool.map(claim, range(8)) if n is not None]
    assert len(won) == 1
    assert storage.read_bytes(uri) == f"writer {won[0]}".encode() * 1000
    with pytest.raises(FileExistsError):
        storage.create_new(uri, b"late")
    assert [storage.basename(o.uri) for o in storage.list_objects(root)] == ["claim.json"]


def test_missing_object_raises_file_not_found(root):
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(storage.join(root, "missing.bin"))
    with pytest.raises(FileNotFoundError):
        storage.size(storage.join(root, "missing.bin"))


def test_upload_download_and_local_copy(root, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    uri = storage.join(root, "big.bin")
    storage.upload_file(source, uri)
    assert storage.sha256_uri(uri) == storage.sha256_file(source)
    out = storage.download_file(uri, tmp_path / "dl" / "big.bin")
    assert out.read_bytes() == source.read_bytes()
    with storage.local_copy(uri) as path:
        assert path.read_bytes() == source.read_bytes()


def test_atomic_output_publishes_only_on_success(root):
    uri = storage.join(root, "out.txt")
    with pytest.raises(RuntimeError), storage.atomic_output(uri) as path:
        path.write_text("partial")
        raise RuntimeError("writer crashed")
    assert not storage.exists(uri)
    with storage.atomic_output(uri) as path:
        path.write_text("whole")
    assert storage.read_text(uri) == "whole"


def test_delete_prefix(root):
    for name in ("a", "b", "c/d"):
        storage.write_bytes(storage.join(root, "gone", name), b"x")
    storage.write_bytes(storage.join(root, "kept"), b"y")
    assert storage.delete_prefix(storage.join(root, "gone")) == 3
    assert [storage.basename(o.uri) for o in storage.list_objects(root)] == ["kept"]


def test_local_temp_files_are_invisible(tmp_path):
    (tmp_path / f"{storage.TEMP_PREFIX}123-shard.parquet").write_bytes(b"half")
    (tmp_path / "done.parquet").write_bytes(b"whole")
    assert [storage.basename(o.uri) for o in storage.list_objects(str(tmp_path))] == [
        "done.parquet"
    ]


def test_join_and_split():
    assert storage.join("s3://b/p/", "x", "/y") == "s3://b/p/x/y"
    assert storage.split_s3("s3://bucket/a/b") == ("bucket", "a/b")
    with pytest.raises(TritterError, match="no bucket"):
        storage.split_s3("s3:///key")


def test_unreachable_endpoint_is_one_line_error(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("TRITTER_S3_MAX_ATTEMPTS", "2")
    storage.reset_clients()
    try:
        with pytest.raises(TritterError) as info:
            storage.read_bytes("s3://nowhere/key")
        message = str(info.value)
        assert "s3://nowhere/key" in message and "\n" not in message
    finally:
        storage.reset_clients()


def test_wrong_credentials_name_the_uri(s3_bucket, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    storage.reset_clients()
    with pytest.raises(TritterError) as info:
        storage.write_bytes(f"{s3_bucket}/k", b"x")
    assert s3_bucket in str(info.value)
    assert "wrong-secret" not in str(info.value)


def test_unwritable_local_output(tmp_path):
    # A regular file where a folder must go fails even for root (permission bits would not).
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(TritterError, match="cannot create folder") as info:
        storage.ensure_writable(str(blocker / "run"))
    assert str(blocker / "run") in str(info.value)
