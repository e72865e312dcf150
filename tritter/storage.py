"""Object storage for run data: plain paths, `file://` URIs and `s3://bucket/key` URIs.

Every stage reads and writes through these functions so the same code runs on a laptop folder
and on S3-compatible object storage. The rules the rest of Tritter relies on:

* Writes are whole-object and atomic. Locally the bytes go to a hidden temp file in the target
  folder and are renamed into place; on S3 a single PUT or a completed multipart upload is
  atomic by construction. A reader never sees a half-written object.
* Listing skips hidden temp files, so an interrupted local write is invisible.
* S3 settings come from the standard AWS variables (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`,
  `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`), with path-style addressing (what
  SeaweedFS and MinIO expect) and botocore's standard retry mode, which backs off on throttling,
  5xx and connection errors. How long one request may wait is bounded (`S3Timeouts`): an
  endpoint that accepts connections and never answers fails within a minute by default.
* Failures surface as `TritterError` naming the URI, never as a botocore traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritter.errors import TritterError

TEMP_PREFIX = ".tmp-"
_MULTIPART_THRESHOLD = 64 * 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its full URI and size in bytes."""

    uri: str
    size: int


# --------------------------------------------------------------------------------------------
# URI helpers


def is_s3(uri: str) -> bool:
    return str(uri).startswith("s3://")


def local_path(uri: str | os.PathLike[str]) -> Path:
    """The filesystem path for a plain path or `file://` URI."""
    text = os.fspath(uri)
    if text.startswith("file://"):
        text = text[len("file://") :]
    if is_s3(text):
        raise TritterError(f"{text}: expected a local path, got an S3 URI")
    return Path(text)


def normalize(uri: str | os.PathLike[str]) -> str:
    """Canonical form: S3 URIs unchanged (minus a trailing slash), local ones absolute paths."""
    text = os.fspath(uri)
    if is_s3(text):
        return text.rstrip("/") if text.rstrip("/") != "s3:/" else text
    return str(local_path(text).expanduser().absolute())


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """Join path components onto a URI with `/` (S3) or the OS separator (local)."""
    text = os.fspath(base)
    if is_s3(text):
        out = text.rstrip("/")
        for part in parts:
            out = f"{out}/{part.strip('/')}"
        return out
    return str(local_path(text).joinpath(*parts))


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` → (`bucket`, `a/b`)."""
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise TritterError(f"{uri}: S3 URI has no bucket")
    return bucket, key


def basename(uri: str) -> str:
    return os.fspath(uri).rstrip("/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------
# S3 client


_client_lock = threading.Lock()
_clients: dict[int, Any] = {}

# Worst-case backoff botocore's standard mode sleeps before retry i (0-based): at most
# min(2**i, 20) s (throttling; 5xx and timeouts back off 20x less).
_MAX_BACKOFF = 20.0


@dataclass(frozen=True)
class S3Timeouts:
    """How long one S3 request may take to fail, from TRITTER_S3_CONNECT_TIMEOUT,
    TRITTER_S3_READ_TIMEOUT (seconds) and TRITTER_S3_MAX_ATTEMPTS (tries per request, the
    first included).

    The defaults bound a dead endpoint — one that accepts connections and never answers —
    to `worst_case_seconds()` = 3 × (3 + 15) + 3 = 57 s, then a one-line error naming it. The
    read timeout is the longest silence between two socket reads, not a whole transfer's
    duration, so large objects are unaffected by it."""

    connect: float = 3.0
    read: float = 15.0
    attempts: int = 3

    @classmethod
    def from_env(cls) -> S3Timeouts:
        return cls(
            connect=_env_number("TRITTER_S3_CONNECT_TIMEOUT", cls.connect, float),
            read=_env_number("TRITTER_S3_READ_TIMEOUT", cls.read, float),
            attempts=int(_env_number("TRITTER_S3_MAX_ATTEMPTS", cls.attempts, int)),
        )

    def worst_case_seconds(self) -> float:
        """Longest a request to an endpoint that never answers takes to fail: every attempt
        waits out both timeouts, with the largest backoff between attempts."""
        backoff = sum(min(2.0**i, _MAX_BACKOFF) for i in range(self.attempts - 1))
        return self.attempts * (self.connect + self.read) + backoff


def _env_number(name: str, default: float, kind: type) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise TritterError(f"{name}: expected a positive number, got {text!r}")
    return value


def s3_endpoint() -> str:
    """The configured S3 endpoint (AWS's own when none is set)."""
    return (
        os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or "the default AWS S3 endpoint"
    )


def s3_client() -> Any:
    """A boto3 S3 client for this process, configured from the standard AWS variables.

    Clients are cached per process id: boto3 clients are thread-safe but must not cross a fork.
    """
    pid = os.getpid()
    with _client_lock:
        client = _clients.get(pid)
        if client is None:
            import boto3
            from botocore.config import Config

            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            timeouts = S3Timeouts.from_env()
            config = Config(
                s3={"addressing_style": "path"},
                # total_max_attempts counts the first try; botocore's max_attempts does not.
                retries={"mode": "standard", "total_max_attempts": timeouts.attempts},
                connect_timeout=timeouts.connect,
                read_timeout=timeouts.read,
                max_pool_connections=32,
                # SeaweedFS and older MinIO reject the newer default CRC32 trailer checksums.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint,
                region_name=os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION")
                or "us-east-1",
                config=config,
            )
            _clients.clear()
            _clients[pid] = client
        return client


def reset_clients() -> None:
    """Forget cached clients (after changing the AWS variables, e.g. in tests)."""
    with _client_lock:
        _clients.clear()


@contextlib.contextmanager
def _s3_errors(uri: str) -> Iterator[None]:
    """Turn botocore failures into one-line `TritterError`s that name the URI."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    try:
        yield
    except (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError,
            ConnectionClosedError) as err:  # fmt: skip
        timeouts = S3Timeouts.from_env()
        raise TritterError(
            f"{uri}: S3 endpoint {s3_endpoint()} did not answer ({type(err).__name__} after "
            f"{timeouts.attempts} attempts; connect/read timeouts {timeouts.connect:g}/"
            f"{timeouts.read:g} s: TRITTER_S3_CONNECT_TIMEOUT, TRITTER_S3_READ_TIMEOUT, "
            "TRITTER_S3_MAX_ATTEMPTS)"
        ) from err
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "?")
        message = err.response.get("Error", {}).get("Message", "") or str(err)
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(uri) from err
        raise TritterError(f"{uri}: S3 error {code}: {message}") from err
    except BotoCoreError as err:
        raise TritterError(f"{uri}: {err}") from err


# --------------------------------------------------------------------------------------------
# Reading


def exists(uri: str) -> bool:
    if is_s3(uri):
        try:
            size(uri)
        except FileNotFoundError:
            return False
        return True
    return local_path(uri).is_file()


def size(uri: str) -> int:
    """Size of one object in bytes; `FileNotFoundError` when absent."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with _s3_errors(uri):
            return int(s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"])
    return local_path(uri).stat().st_size


def read_bytes(uri: str) -> bytes:
    """The whole object; `FileNotFoundError` when absent."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with _s3_errors(uri):
            return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return local_path(uri).read_bytes()


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def read_named_file(uri: str, what: str) -> str:
    """The UTF-8 text of a user-named file (`what`: "persona file", …), or a one-line error
    naming it: missing, a folder, or not text."""

    try:
        return read_text(uri)
    except FileNotFoundError as err:
        raise TritterError(f"{uri}: {what} not found") from err
    except IsADirectoryError as err:
        raise TritterError(f"{uri}: {what} is a folder") from err
    except UnicodeDecodeError as err:
        raise TritterError(f"{uri}: {what} is not UTF-8 text") from err


def read_range(uri: str, offset: int, length: int) -> bytes:
    """`length` bytes starting at `offset` (fewer only at the end of the object)."""
    if length <= 0:
        return b""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with _s3_errors(uri):
            body = s3_client().get_object(
                Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}"
            )["Body"]
            return body.read()
    with open(local_path(uri), "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def list_objects(prefix: str, suffix: str = "", recursive: bool = True) -> list[ObjectInfo]:
    """Objects under a folder URI, sorted by URI. Hidden temp files are never listed."""
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        key = key.rstrip("/") + "/" if key else ""
        found: list[ObjectInfo] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
        if not recursive:
            kwargs["Delimiter"] = "/"
        with _s3_errors(prefix):
            for page in s3_client().get_paginator("list_objects_v2").paginate(**kwargs):
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if name.startswith(TEMP_PREFIX) or not item["Key"].endswith(suffix):
                        continue
                    found.append(ObjectInfo(f"s3://{bucket}/{item['Key']}", int(item["Size"])))
        return sorted(found, key=lambda o: o.uri)
    root = local_path(prefix)
    if not root.is_dir():
        return []
    walker = root.rglob("*") if recursive else root.iterdir()
    found = []
    for path in walker:
        if path.name.startswith(TEMP_PREFIX) or not path.name.endswith(suffix):
            continue
        if path.is_file():
            found.append(ObjectInfo(str(path), path.stat().st_size))
    return sorted(found, key=lambda o: o.uri)


def download_file(uri: str, destination: str | os.PathLike[str]) -> Path:
    """Copy an object to a local file (atomically) and return the local path."""
    dest = Path(destination)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{dest.name}")
    try:
        if is_s3(uri):
            bucket, key = split_s3(uri)
            with _s3_errors(uri):
                s3_client().download_file(bucket, key, str(tmp))
        else:
            shutil.copyfile(local_path(uri), tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local path holding the object: the file itself when local, else a temp download."""
    if not is_s3(uri):
        path = local_path(uri)
        if not path.exists():
            raise FileNotFoundError(uri)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tritter-") as tmp:
        yield download_file(uri, Path(tmp) / basename(uri))


@contextlib.contextmanager
def local_folder(uri: str) -> Iterator[Path]:
    """A local folder holding everything under `uri`: the folder itself when local, else a temp
    download of every object under the S3 prefix (removed on exit)."""
    if not is_s3(uri):
        yield local_path(uri)
        return
    prefix = normalize(uri)
    with tempfile.TemporaryDirectory(prefix="tritter-folder-") as tmp:
        for item in list_objects(prefix):
            download_file(item.uri, Path(tmp) / item.uri[len(prefix) + 1 :])
        yield Path(tmp)


# --------------------------------------------------------------------------------------------
# Writing


def write_bytes(uri: str, data: bytes) -> None:
    """Write a whole object atomically (readers see the old object or the new, never a part)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with _s3_errors(uri):
            s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    _publish_local(uri, data, os.replace)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


_CREATE_LOST = ("PreconditionFailed", "ConditionalRequestConflict")


def create_new(uri: str, data: bytes) -> None:
    """Write a whole object only if none exists at `uri`: of two writers racing for the same
    name exactly one wins, the other gets FileExistsError (a lock that needs no lock server).
    On S3 a conditional PutObject (If-None-Match: *), which AWS, MinIO and SeaweedFS honour."""
    if is_s3(uri):
        from botocore.exceptions import ClientError

        bucket, key = split_s3(uri)
        with _s3_errors(uri):
            try:
                s3_client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
            except ClientError as err:
                # 412: the object exists; 409: another conditional write to it is in flight.
                if err.response.get("Error", {}).get("Code") in _CREATE_LOST:
                    raise FileExistsError(uri) from err
                raise
        return
    _publish_local(uri, data, os.link)  # link is atomic and fails if the name exists


def _publish_local(uri: str, data: bytes, publish: Callable[[Path, Path], None]) -> None:
    """Write `data` to a synced temp file beside `uri`, then `publish(temp, path)` it."""
    path = local_path(uri)
    _ensure_parent(path, uri)
    tmp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def upload_file(source: str | os.PathLike[str], uri: str) -> None:
    """Copy a local file to a URI atomically (multipart upload for large files on S3)."""
    source = Path(source)
    if is_s3(uri):
        from boto3.s3.transfer import TransferConfig

        bucket, key = split_s3(uri)
        with _s3_errors(uri):
            s3_client().upload_file(
                str(source),
                bucket,
                key,
                Config=TransferConfig(multipart_threshold=_MULTIPART_THRESHOLD),
            )
        return
    path = local_path(uri)
    if path.resolve() == source.resolve():
        return
    _ensure_parent(path, uri)
    tmp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def upload_folder(source: str | os.PathLike[str], uri: str) -> list[str]:
    """Copy every file under a local folder to the same relative paths under `uri` (each one
    atomically). Returns the relative paths, sorted."""
    root = Path(source)
    written = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            relative = path.relative_to(root).as_posix()
            upload_file(path, join(uri, *relative.split("/")))
            written.append(relative)
    return written


@contextlib.contextmanager
def atomic_output(uri: str, suffix: str = "") -> Iterator[Path]:
    """Yield a local temp file path; on clean exit it becomes `uri` atomically.

    For writers that need a real file (pyarrow, sentencepiece, torch.save). On an exception
    nothing is published.
    """
    with tempfile.TemporaryDirectory(prefix="tritter-out-") as tmp:
        path = Path(tmp) / f"out{suffix}"
        yield path
        upload_file(path, uri)


def delete(uri: str) -> None:
    """Remove one object; absent objects are fine."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with _s3_errors(uri):
            s3_client().delete_object(Bucket=bucket, Key=key)
        return
    local_path(uri).unlink(missing_ok=True)


def delete_prefix(prefix: str) -> int:
    """Remove every object under a folder URI; returns how many were removed."""
    objects = list_objects(prefix)
    if is_s3(prefix):
        bucket, _ = split_s3(prefix)
        for start in range(0, len(objects), 1000):
            chunk = objects[start : start + 1000]
            with _s3_errors(prefix):
                s3_client().delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": split_s3(o.uri)[1]} for o in chunk]},
                )
        return len(objects)
    root = local_path(prefix)
    if root.is_dir():
        shutil.rmtree(root)
    return len(objects)


def ensure_writable(uri: str) -> None:
    """Fail early, naming the URI, when a run folder cannot be written. Leaves no trace: the
    local folders the probe had to create are removed again, so a stage that fails before
    writing anything leaves no empty output folder behind."""
    probe = join(uri, f"{TEMP_PREFIX}probe-{uuid.uuid4().hex}")
    created: list[Path] = []
    if not is_s3(uri):
        folder = local_path(uri).expanduser().absolute()
        while not folder.exists() and folder != folder.parent:
            created.append(folder)
            folder = folder.parent
    try:
        write_bytes(probe, b"")
        delete(probe)
    except OSError as err:
        raise TritterError(f"{uri}: output is not writable ({err.strerror or err})") from err
    finally:
        for folder in created:  # deepest first; one that is no longer empty stays
            with contextlib.suppress(OSError):
                folder.rmdir()


def _ensure_parent(path: Path, uri: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TritterError(f"{uri}: cannot create folder ({err.strerror or err})") from err


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_uri(uri: str) -> str:
    """sha256 of a stored object, streamed in 1 MiB blocks (local file or S3 body): one pass,
    constant memory."""
    if not is_s3(uri):
        return sha256_file(local_path(uri))
    digest = hashlib.sha256()
    bucket, key = split_s3(uri)
    with _s3_errors(uri):
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        for block in body.iter_chunks(1 << 20):
            digest.update(block)
    return digest.hexdigest()
