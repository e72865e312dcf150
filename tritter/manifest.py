"""Stage manifests: the `_manifest.json` written last into every stage output folder.

A folder without its manifest is incomplete. The manifest records what went in (inputs and
config), what came out (files with sizes and sha256, counts) and which code produced it. Its
`fingerprint` hashes the inputs and the config: when a relaunch computes the same fingerprint
and finds a manifest carrying it, the stage is already done and is skipped.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tritter import __version__, storage
from tritter.errors import TritterError

MANIFEST_NAME = "_manifest.json"


@dataclass(frozen=True)
class FileEntry:
    """One output file, by path relative to the stage folder."""

    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    stage: str
    fingerprint: str
    inputs: dict[str, Any]
    config: dict[str, Any]
    counts: dict[str, Any] = field(default_factory=dict)
    files: list[FileEntry] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    code_version: str = field(default_factory=lambda: code_version())
    created: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str, uri: str = "<manifest>") -> Manifest:
        try:
            data = json.loads(text)
            data["files"] = [FileEntry(**entry) for entry in data.get("files", [])]
            return cls(**data)
        except (ValueError, TypeError, KeyError) as err:
            raise TritterError(f"{uri}: corrupt manifest ({err})") from err


def fingerprint(stage: str, inputs: dict[str, Any], config: dict[str, Any]) -> str:
    """Stable hash of what determines a stage's output."""
    blob = json.dumps({"stage": stage, "inputs": inputs, "config": config}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def manifest_uri(folder: str) -> str:
    return storage.join(folder, MANIFEST_NAME)


def read_manifest(folder: str) -> Manifest | None:
    """The folder's manifest, or None when the folder is incomplete (no manifest yet)."""
    uri = manifest_uri(folder)
    try:
        text = storage.read_text(uri)
    except FileNotFoundError:
        return None
    return Manifest.from_json(text, uri)


def require_manifest(folder: str, stage: str | None = None) -> Manifest:
    """The manifest of a finished input folder; a one-line error when it is missing."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise TritterError(
            f"{folder}: no {MANIFEST_NAME} (the producing stage has not finished there)"
        )
    if stage is not None and manifest.stage != stage:
        raise TritterError(
            f"{manifest_uri(folder)}: expected output of stage '{stage}', found '{manifest.stage}'"
        )
    return manifest


def is_complete(folder: str, expected_fingerprint: str) -> bool:
    """True when the folder holds a finished output for exactly these inputs and config."""
    manifest = read_manifest(folder)
    return manifest is not None and manifest.fingerprint == expected_fingerprint


def file_entry(folder: str, uri: str, sha256: str | None = None) -> FileEntry:
    """Describe one written file for the manifest (hashing it unless the hash is known)."""
    relative = _relative(folder, uri)
    return FileEntry(
        path=relative,
        size=storage.size(uri),
        sha256=sha256 if sha256 is not None else storage.sha256_uri(uri),
    )


def write_manifest(folder: str, manifest: Manifest) -> str:
    """Publish the manifest (always the last write of a stage). Returns its URI."""
    uri = manifest_uri(folder)
    manifest.files = sorted(manifest.files, key=lambda f: f.path)
    storage.write_text(uri, manifest.to_json())
    return uri


def verify_files(folder: str, manifest: Manifest, check_hash: bool = False) -> None:
    """Check every listed file exists with its recorded size (and hash when asked)."""
    for entry in manifest.files:
        uri = storage.join(folder, entry.path)
        try:
            actual = storage.size(uri)
        except FileNotFoundError as err:
            raise TritterError(f"{uri}: listed in the manifest but missing") from err
        if actual != entry.size:
            raise TritterError(
                f"{uri}: size {actual} differs from the manifest's {entry.size} (truncated?)"
            )
        if check_hash and storage.sha256_uri(uri) != entry.sha256:
            raise TritterError(f"{uri}: sha256 differs from the manifest (corrupt)")


def _relative(folder: str, uri: str) -> str:
    if storage.is_s3(folder):
        base, full = folder.rstrip("/") + "/", uri
    else:
        base, full = storage.normalize(folder).rstrip(os.sep) + os.sep, storage.normalize(uri)
    if not full.startswith(base):
        raise TritterError(f"{uri}: not inside output folder {folder}")
    return full[len(base) :].replace(os.sep, "/")


@functools.cache
def code_version() -> str:
    """Package version plus the git commit when running from a checkout (`0.1.0+g1a2b3c4`)."""
    root = Path(__file__).resolve().parent.parent
    env_sha = os.environ.get("TRITTER_GIT_SHA")
    if env_sha:
        return f"{__version__}+g{env_sha[:12]}"
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__
