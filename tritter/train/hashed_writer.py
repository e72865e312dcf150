"""Checkpoint files hashed while they are written, not read back afterwards.

`HashingWriter` is torch.distributed.checkpoint's `FileSystemWriter` with its file system
swapped for one whose write streams feed every byte to a sha256 on the way to disk (the same
hook torch's own fsspec writer uses: `self.fs`). DCP writes each `.distcp` file front to back
through `write` (it never seeks), and `.metadata` as a temp file it renames, so the digests are
exactly the files' contents. `write_hashed` does the same for the small files rank 0 adds
(trainer_state.pt, model.json, config.yaml). The commit marker records these digests; loading
still hashes the files it reads (`tritter.train.store.verify`).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch.distributed.checkpoint import FileSystemWriter
from torch.distributed.checkpoint.filesystem import FileSystem

# Writes at least this large are hashed on a pool thread, overlapping the copy into the file.
_OVERLAP_BYTES = 1 << 20
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _hash_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # One per DCP writer thread (Checkpointer uses 2) and a spare.
            _pool = ThreadPoolExecutor(4, thread_name_prefix="tritter-ckpt-hash")
        return _pool


class _HashingFile:
    """A binary file open for writing whose bytes also go through a sha256."""

    def __init__(self, handle: Any, on_close: Callable[[str], None]) -> None:
        self._handle, self._on_close = handle, on_close
        self._digest = hashlib.sha256()
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        if view.nbytes < _OVERLAP_BYTES:
            self._digest.update(view)
            return self._handle.write(view)
        # A large buffer (a tensor's storage) is hashed on another thread while this one copies
        # it into the file: both release the GIL, so the hash costs little more than the write.
        # Waiting before returning keeps the updates in order and the caller's buffer unchanged.
        hashing = _hash_pool().submit(self._digest.update, view)
        try:
            return self._handle.write(view)
        finally:
            hashing.result()

    def tell(self) -> int:
        return self._handle.tell()

    def flush(self) -> None:
        self._handle.flush()

    def fileno(self) -> int:
        return self._handle.fileno()

    def seekable(self) -> bool:
        return False  # a seek and overwrite would make the digest differ from the file

    def seek(self, *_args: Any) -> int:
        raise io.UnsupportedOperation("a hashed checkpoint file is written front to back")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._handle.close()
            self._on_close(self._digest.hexdigest())

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _HashingFileSystem(FileSystem):
    """DCP's local file system, recording the sha256 of every file it writes (by path)."""

    def __init__(self) -> None:
        super().__init__()
        self.digests: dict[Path, str] = {}
        self._lock = threading.Lock()  # DCP writes files from several threads

    def _record(self, path: Path, digest: str) -> None:
        with self._lock:
            self.digests[path] = digest

    @contextmanager
    def create_stream(self, path: str | os.PathLike, mode: str) -> Generator[Any, None, None]:
        if "r" in mode:
            with super().create_stream(path, mode) as stream:
                yield stream
            return
        path = Path(path)
        with path.open(mode) as handle, _HashingFile(
            handle, lambda digest: self._record(path, digest)
        ) as stream:  # fmt: skip
            yield stream

    def rename(self, path: str | os.PathLike, new_path: str | os.PathLike) -> None:
        super().rename(path, new_path)
        with self._lock:
            digest = self.digests.pop(Path(path), None)
            if digest is not None:
                self.digests[Path(new_path)] = digest

    def rm_file(self, path: str | os.PathLike) -> None:
        super().rm_file(path)
        with self._lock:
            self.digests.pop(Path(path), None)


class HashingWriter(FileSystemWriter):
    """`FileSystemWriter` that knows the sha256 of each file it wrote (`digests()`)."""

    def __init__(self, path: str | os.PathLike, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.fs = _HashingFileSystem()
        self.path = self.fs.init_path(path)

    def digests(self) -> dict[str, str]:
        """Relative file name → sha256 of every file this writer wrote and kept."""
        fs = self.fs
        assert isinstance(fs, _HashingFileSystem)
        base = Path(self.path)
        with fs._lock:
            return {p.relative_to(base).as_posix(): d for p, d in fs.digests.items()}


def write_hashed(path: Path, data: bytes) -> str:
    """Write `data` to `path`; returns its sha256 (of the bytes written, no read-back)."""
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()
