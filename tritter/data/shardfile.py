"""The token shard format: two (or three) standard `.npy` files per shard.

    <split>/<subset>/<NNNNN>.tokens.npy   1-D uint16 (vocab ≤ 65,536) or uint32 token ids:
                                          documents back to back, each followed by EOS
    <split>/<subset>/<NNNNN>.docs.npy     1-D int64 document boundaries, length documents + 1:
                                          document d is tokens[docs[d]:docs[d+1]] (its EOS is
                                          the last token), docs[0] == 0, docs[-1] == len(tokens)
    <split>/<subset>/<NNNNN>.mask.npy     optional, 1-D int64 of even length: the spans of
                                          tokens that are training targets, [m[0], m[1]),
                                          [m[2], m[3]), … sorted and disjoint; absent: every
                                          token is (pretraining text). Conversations learn only
                                          what the assistant writes, a few spans per document,
                                          so spans are far smaller than a per-token mask.

Plain `.npy` means any tool reads a shard (`numpy.load(path, mmap_mode="r")`) and a reader can
find token `i` at byte `header + i * itemsize`, which is what the loader's range reads use on
S3. The tokens header is written at a fixed 128 bytes so the file can be streamed to disk and
the final length filled in afterwards; readers must not assume it (they parse the header).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tritter.errors import TritterError

HEADER_BYTES = 128
MAGIC = b"\x93NUMPY"
TOKENS_SUFFIX = ".tokens.npy"
DOCS_SUFFIX = ".docs.npy"
MASK_SUFFIX = ".mask.npy"
MAX_HEADER_PROBE = 4096  # bytes fetched to parse an npy header (v1 headers are < 64 KiB)


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab ≤ 65,536), else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def shard_paths(split: str, subset: str, ordinal: int) -> tuple[str, str]:
    """Relative paths of one shard's tokens and document-boundary files."""
    stem = f"{split}/{subset}/{ordinal:05d}"
    return stem + TOKENS_SUFFIX, stem + DOCS_SUFFIX


def mask_path(tokens_path: str) -> str:
    """The loss-span file beside a tokens file."""
    return tokens_path[: -len(TOKENS_SUFFIX)] + MASK_SUFFIX


def spans_of(mask: np.ndarray) -> np.ndarray:
    """A 0/1 per-token mask → its spans of ones as [start0, end0, start1, end1, …] (int64)."""
    padded = np.concatenate(([0], np.asarray(mask, dtype=np.int8), [0]))
    return np.flatnonzero(np.diff(padded)).astype(np.int64)


def fixed_header(dtype: np.dtype, count: int) -> bytes:
    """An npy v1.0 header for a 1-D array, padded to exactly HEADER_BYTES."""
    text = repr(
        {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (count,)}
    )
    body_len = HEADER_BYTES - len(MAGIC) - 4
    if len(text) + 1 > body_len:
        raise ValueError("npy header does not fit")
    body = (text.ljust(body_len - 1) + "\n").encode("latin1")
    return MAGIC + b"\x01\x00" + struct.pack("<H", body_len) + body


def parse_header(head: bytes, uri: str) -> tuple[np.dtype, int, int]:
    """(dtype, element count, data offset) of a 1-D npy file from its first bytes."""
    stream = io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported npy version {version}")
    except (ValueError, EOFError, SyntaxError) as err:
        raise TritterError(f"{uri}: not a valid .npy shard (corrupt header: {err})") from err
    if fortran or len(shape) != 1:
        raise TritterError(f"{uri}: expected a 1-D array, found shape {shape}")
    return np.dtype(dtype), int(shape[0]), stream.tell()


class TokenFileWriter:
    """Stream token arrays into a tokens `.npy` file whose length is known only at the end."""

    def __init__(self, path: Path, dtype: np.dtype) -> None:
        self.path, self.dtype, self.count = path, dtype, 0
        # Closed in close(); the writer outlives any single with-block.
        self._handle: BinaryIO = open(path, "wb")  # noqa: SIM115
        self._handle.write(fixed_header(dtype, 0))

    def write(self, tokens: np.ndarray) -> None:
        self._handle.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self.count += len(tokens)

    def close(self) -> int:
        self._handle.seek(0)
        self._handle.write(fixed_header(self.dtype, self.count))
        self._handle.close()
        return self.count


def write_docs(path: Path, boundaries: np.ndarray) -> None:
    np.save(path, np.asarray(boundaries, dtype=np.int64), allow_pickle=False)


def write_spans(path: Path, spans: np.ndarray) -> None:
    np.save(path, np.asarray(spans, dtype=np.int64), allow_pickle=False)


def expected_size(dtype: np.dtype, count: int, offset: int) -> int:
    return offset + count * dtype.itemsize
