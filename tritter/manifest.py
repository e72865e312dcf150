"""Stage manifests: the `_manifest.json` written last into every stage output folder.

A folder without its manifest is incomplete. The manifest records what went in (inputs and
config), what came out (files with sizes and sha256, counts) and which code produced it. Its
`fingerprint` hashes the inputs and the config: when a relaunch computes the same fingerprint
and finds a manifest carrying it, the stage is already done and is skipped.

`Manifest` is the envelope every stage shares. What a stage puts in its `inputs`, `counts` and
`extra` is declared once as `Record` models and tied to the stage by a `Contract`
(`tritter.run_folder` holds them all): the writing stage builds those models, so it cannot write
a key its readers do not know, and `Contract.read` validates a manifest into them, so a reader
gets typed fields or a one-line error naming the file and the field — never a silent `.get()`
that finds nothing.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tritter import __version__, storage
from tritter.config import Config, is_runtime
from tritter.errors import TritterError

MANIFEST_NAME = "_manifest.json"


class Record(BaseModel):
    """A typed part of a manifest (inputs, counts or extra): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), populate_by_name=True)

    def identity(self) -> dict[str, Any]:
        """What a fingerprint hashes: every field but those declared with `runtime_field`
        (an input's location: the input is identified by its content instead)."""
        return {
            name: value
            for name, value in self.model_dump(mode="json", by_alias=True).items()
            if not is_runtime(type(self).model_fields[name])
        }


@dataclass(frozen=True)
class FileEntry:
    """One output file, by path relative to the stage folder."""

    path: str
    size: int
    sha256: str


InputsT = TypeVar("InputsT")
CountsT = TypeVar("CountsT")
ExtraT = TypeVar("ExtraT")


@dataclass
class Manifest(Generic[InputsT, CountsT, ExtraT]):
    """The envelope. Untyped (`dict`) as read by `read_manifest`; typed (`Record`s) as written by
    a stage and as read through its `Contract`."""

    stage: str
    fingerprint: str
    inputs: InputsT
    config: dict[str, Any]
    counts: CountsT = field(default_factory=dict)  # type: ignore[assignment]
    files: list[FileEntry] = field(default_factory=list)
    extra: ExtraT = field(default_factory=dict)  # type: ignore[assignment]
    code_version: str = field(default_factory=lambda: code_version())
    # The libraries that produced the output (a run record: results differ across versions).
    versions: dict[str, str] = field(default_factory=lambda: library_versions())
    created: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )

    def to_dict(self) -> dict[str, Any]:
        data = {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}
        data["files"] = [asdict(entry) for entry in self.files]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str, uri: str = "<manifest>") -> Manifest:
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            data["files"] = [FileEntry(**entry) for entry in data.get("files", [])]
            data.setdefault("versions", {})  # written before versions were recorded
            return cls(**data)
        except (ValueError, TypeError, KeyError) as err:
            raise TritterError(f"{uri}: corrupt manifest ({err})") from err


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel) else value


InputsR = TypeVar("InputsR", bound=Record)
CountsR = TypeVar("CountsR", bound=Record)
ExtraR = TypeVar("ExtraR", bound=Record)


@dataclass(frozen=True)
class Contract(Generic[InputsR, CountsR, ExtraR]):
    """What one stage writes into its folder's manifest, shared by the stage and its readers."""

    stage: str  # the manifest's `stage` value
    folder: str  # the run-folder part the stage writes
    inputs: type[InputsR]
    counts: type[CountsR]
    extra: type[ExtraR]

    def fingerprint(self, config: Config, inputs: InputsR) -> str:
        """What the stage's output depends on: its settings (runtime fields left out) and the
        identity of its inputs."""
        return fingerprint(self.stage, inputs.identity(), config.settings())

    def parse(self, found: Manifest, uri: str) -> Manifest[InputsR, CountsR, ExtraR]:
        if found.stage != self.stage:
            raise TritterError(
                f"{uri}: expected output of stage '{self.stage}', found '{found.stage}'"
            )
        typed: dict[str, Any] = {}
        for part in ("inputs", "counts", "extra"):
            try:
                typed[part] = getattr(self, part).model_validate(getattr(found, part))
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in (part, *first["loc"]))
                raise TritterError(
                    f"{uri}: manifest field '{where}': {first['msg']} (written by another "
                    "version of the stage?)"
                ) from err
        return Manifest(
            stage=found.stage, fingerprint=found.fingerprint, config=found.config,
            files=found.files, code_version=found.code_version, versions=found.versions,
            created=found.created, **typed,
        )  # fmt: skip

    def read(self, folder: str) -> Manifest[InputsR, CountsR, ExtraR] | None:
        """The typed manifest of a finished folder, or None while the folder is incomplete."""
        found = read_manifest(folder)
        return None if found is None else self.parse(found, manifest_uri(folder))

    def require(self, folder: str) -> Manifest[InputsR, CountsR, ExtraR]:
        """The typed manifest of a finished input folder; a one-line error when missing."""
        return self.parse(require_manifest(folder), manifest_uri(folder))

    def current(self, folder: str, fingerprint: str) -> Manifest[InputsR, CountsR, ExtraR] | None:
        """The folder's manifest when it was written for exactly this fingerprint."""
        found = read_manifest(folder)
        if found is None or found.fingerprint != fingerprint:
            return None
        return self.parse(found, manifest_uri(folder))


@dataclass(frozen=True)
class OneOf:
    """A folder that one of several stages writes (tokenizer/: trained here or imported): reads
    like a `Contract`, typed by whichever stage the manifest names."""

    contracts: tuple[Contract, ...]

    def parse(self, found: Manifest, uri: str) -> Manifest:
        for contract in self.contracts:
            if found.stage == contract.stage:
                return contract.parse(found, uri)
        expected = " or ".join(f"'{contract.stage}'" for contract in self.contracts)
        raise TritterError(f"{uri}: expected output of stage {expected}, found '{found.stage}'")

    def read(self, folder: str) -> Manifest | None:
        found = read_manifest(folder)
        return None if found is None else self.parse(found, manifest_uri(folder))

    def require(self, folder: str) -> Manifest:
        return self.parse(require_manifest(folder), manifest_uri(folder))


def fingerprint(stage: str, inputs: Any, config: dict[str, Any]) -> str:
    """Stable hash of what determines a stage's output (`config`: the stage's settings, i.e.
    `Config.settings()`, never a field that only says where or how fast)."""
    blob = json.dumps({"stage": stage, "inputs": _plain(inputs), "config": config}, sort_keys=True)
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


def verify_files(folder: str, manifest: Manifest, check_hash: bool = True) -> None:
    """Check every listed file exists with its recorded size and, unless `check_hash` is
    False, its sha256 (one streaming pass over the folder): what a relaunch that finds a
    finished stage does before it trusts the folder."""
    where = manifest_uri(folder)
    for entry in manifest.files:
        uri = storage.join(folder, entry.path)
        try:
            actual = storage.size(uri)
        except FileNotFoundError as err:
            raise TritterError(f"{uri}: listed in {where} but missing") from err
        if actual != entry.size:
            raise TritterError(
                f"{uri}: size {actual} differs from {where}'s {entry.size} (truncated?)"
            )
        if check_hash and storage.sha256_uri(uri) != entry.sha256:
            raise TritterError(f"{uri}: sha256 differs from {where} (corrupt or replaced)")


def _relative(folder: str, uri: str) -> str:
    if storage.is_s3(folder):
        base, full = folder.rstrip("/") + "/", uri
    else:
        base, full = storage.normalize(folder).rstrip(os.sep) + os.sep, storage.normalize(uri)
    if not full.startswith(base):
        raise TritterError(f"{uri}: not inside output folder {folder}")
    return full[len(base) :].replace(os.sep, "/")


# What a run record names: the libraries whose versions change numbers (kernels, tokenization,
# data loading) or the pipeline's behaviour.
RECORDED_PACKAGES = ("torch", "triton", "transformers", "tokenizers", "sentencepiece", "datasets",
                     "pyarrow", "numpy", "kfp")  # fmt: skip


@functools.cache
def library_versions() -> dict[str, str]:
    """Python's and each recorded package's version ("" when not installed), without importing
    the packages (reading their metadata is cheap; importing torch is not)."""
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = ""
    return found


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
