"""Damage a stored file the way a bad disk or a broken copy does: one byte flipped, same size."""

from __future__ import annotations

from tritter import storage


def flip_byte(uri: str, offset: int | None = None) -> int:
    """Invert one byte of a local file or S3 object (default: the middle one); the size stays.
    Returns the offset flipped."""
    data = bytearray(storage.read_bytes(uri))
    where = len(data) // 2 if offset is None else offset
    data[where] ^= 0xFF
    if storage.is_s3(uri):
        storage.write_bytes(uri, bytes(data))
    else:
        # In place, not through a temp file: the damage a disk does keeps the inode.
        with open(storage.local_path(uri), "r+b") as handle:
            handle.seek(where)
            handle.write(bytes([data[where]]))
    return where
