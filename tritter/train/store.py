"""The checkpoints folder: the one reader (and writer) of step folders and commit markers.

Training writes `step-%08d/` folders; a step folder is complete only when its `_COMMITTED` marker
exists. The marker is written last (after every rank has uploaded its files) and lists every
file with its size and sha256 (each rank hashes the bytes of the files it writes as they are
written: `tritter.train.hashed_writer`), so:

* a folder interrupted mid-write has no marker and is never chosen;
* the newest folder with a valid marker whose listed files are all present wins;
* a marker that does not parse, lists a file that is missing or has another size, or whose
  sha256 differs from the file's content when it is read (`verify`), is a corrupt checkpoint
  (`CorruptCheckpoint`): evaluation stops with a one-line error; training falls back to the
  previous committed step with a warning (`CheckpointStore.resumable`) rather than resuming
  from damaged bytes. Markers written before hashes were recorded are checked by size only.

Training (resume, prune), evaluation (which weights to load), the report (which saves exist) and
`load_model` all read step folders through `CheckpointStore` and `resolve`. Works on local
folders and s3:// alike through `tritter.storage` (one listing per query).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritter import log, storage
from tritter.errors import TritterError
from tritter.run_folder import COMMIT_MARKER, FINAL, STEP_PREFIX, step_folder

MARKER_FORMAT = "tritter.checkpoint/1"
# Any digit count: training writes eight, but a folder another width left behind still counts.
_STEP_FOLDER = re.compile(rf"^{re.escape(STEP_PREFIX)}(\d+)$")
HASH_THREADS = 4  # files hashed at once (hashlib releases the GIL)
_log = log.get_logger("train.checkpoint")


class CorruptCheckpoint(TritterError):
    """A committed step folder whose files do not match its marker."""


@dataclass(frozen=True)
class StepFolder:
    """One step folder as listed: committed or not, with its files' sizes."""

    step: int
    uri: str
    files: dict[str, int] = field(default_factory=dict)  # relative name → size

    @property
    def committed(self) -> bool:
        return COMMIT_MARKER in self.files


@dataclass(frozen=True)
class Checkpoint:
    """One committed step folder whose marker has been checked against its files."""

    step: int
    uri: str
    marker: dict[str, Any]

    @property
    def world_size(self) -> int:
        return int(self.marker.get("world_size", 1))


class CheckpointStore:
    def __init__(self, root: str) -> None:
        self.root = storage.normalize(root)

    def step_uri(self, step: int) -> str:
        return storage.join(self.root, step_folder(step))

    # -- reading ---------------------------------------------------------------------------------

    def folders(self) -> list[StepFolder]:
        """Every step folder under the root (committed or not), in step order."""
        found: dict[int, StepFolder] = {}
        base = self.root.rstrip("/")
        for item in storage.list_objects(self.root):
            relative = item.uri[len(base) :].lstrip("/").replace("\\", "/")
            head, _, rest = relative.partition("/")
            match = _STEP_FOLDER.match(head)
            if match and rest:
                step = int(match.group(1))
                folder = found.setdefault(step, StepFolder(step, storage.join(self.root, head)))
                folder.files[rest] = item.size
        return [found[step] for step in sorted(found)]

    def committed_steps(self) -> list[int]:
        return [folder.step for folder in self.folders() if folder.committed]

    def validate(self, folder: StepFolder) -> Checkpoint:
        """The checkpoint of a committed folder, its marker checked against its files."""
        uri = storage.join(folder.uri, COMMIT_MARKER)
        try:
            marker = json.loads(storage.read_text(uri))
        except FileNotFoundError as err:
            raise TritterError(f"{folder.uri}: not a committed checkpoint (no marker)") from err
        except (ValueError, UnicodeDecodeError) as err:
            raise CorruptCheckpoint(f"{uri}: corrupt checkpoint marker ({err})") from err
        if (
            not isinstance(marker, dict)
            or marker.get("step") != folder.step
            or not isinstance(marker.get("files"), list)
        ):
            raise CorruptCheckpoint(f"{uri}: corrupt checkpoint marker (missing step or files)")
        sizes = marker.get("sizes", {})
        for name in marker["files"]:
            if name not in folder.files:
                raise CorruptCheckpoint(
                    f"{folder.uri}: corrupt checkpoint: committed file {name} is missing"
                )
            if name in sizes and sizes[name] != folder.files[name]:
                raise CorruptCheckpoint(
                    f"{folder.uri}: corrupt checkpoint: {name} has {folder.files[name]} "
                    f"bytes, the marker says {sizes[name]}"
                )
        return Checkpoint(folder.step, folder.uri, marker)

    def latest(self) -> Checkpoint | None:
        """The newest committed checkpoint (validated), or None for a fresh run."""
        committed = [folder for folder in self.folders() if folder.committed]
        return self.validate(committed[-1]) if committed else None

    def resumable(
        self, skipped: Callable[[CorruptCheckpoint], None] | None = None
    ) -> Iterator[Checkpoint]:
        """Committed checkpoints, newest first, whose marker matches their files' sizes; a
        corrupt one is skipped with a warning (and handed to `skipped`). Training resumes from
        the first of these that also passes `verify`."""
        for folder in reversed([f for f in self.folders() if f.committed]):
            try:
                yield self.validate(folder)
            except CorruptCheckpoint as err:
                fall_back(err)
                if skipped is not None:
                    skipped(err)

    def has_final(self) -> bool:
        """True once the final Hugging Face export (`final/config.json`) exists."""
        return storage.exists(storage.join(self.root, FINAL, "config.json"))

    # -- writing ---------------------------------------------------------------------------------

    def commit(
        self,
        step: int,
        world_size: int,
        digests: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Write the marker listing what the step folder holds now (call after all uploads),
        with `digests` (name → sha256 of every file, as the ranks that wrote them hashed it)."""
        folder = next((f for f in self.folders() if f.step == step), None)
        files = {k: v for k, v in (folder.files if folder else {}).items() if k != COMMIT_MARKER}
        if not files:
            raise TritterError(f"{self.step_uri(step)}: nothing to commit (no files written)")
        marker = {
            "format": MARKER_FORMAT,
            "step": step,
            "world_size": world_size,
            "time": time.time(),
            "files": sorted(files),
            "sizes": dict(sorted(files.items())),
            **(extra or {}),
        }
        if digests is not None:
            unhashed = sorted(set(files) - set(digests))
            if unhashed:
                raise TritterError(
                    f"{storage.join(self.step_uri(step), unhashed[0])}: no rank of this save "
                    "wrote (and hashed) it; refusing to commit"
                )
            marker["sha256"] = {name: digests[name] for name in sorted(files)}
        storage.write_text(
            storage.join(self.step_uri(step), COMMIT_MARKER), json.dumps(marker, indent=1) + "\n"
        )

    def remove(self, step: int) -> None:
        storage.delete_prefix(self.step_uri(step))

    def prune(self, keep_last: int) -> list[int]:
        """Delete committed checkpoints beyond the newest `keep_last`, and leftovers of
        interrupted saves older than the newest committed one. Returns the removed steps."""
        folders = self.folders()
        committed = [f.step for f in folders if f.committed]
        if not committed:
            return []
        keep = set(committed[-keep_last:])
        newest = committed[-1]
        removed = []
        for folder in folders:
            if folder.step in keep or folder.step > newest:
                continue  # a newer uncommitted folder may be a save in progress
            # The marker goes first so a crash mid-delete leaves an uncommitted folder.
            storage.delete(storage.join(folder.uri, COMMIT_MARKER))
            storage.delete_prefix(folder.uri)
            removed.append(folder.step)
        return removed


def fall_back(err: TritterError) -> None:
    """Say loudly that training skips a corrupt checkpoint for the previous committed one."""
    log.event(_log, "corrupt checkpoint: falling back to the previous committed step",
              level=logging.WARNING, error=str(err))  # fmt: skip


def none_intact(root: str, newest: TritterError) -> TritterError:
    """The error when every committed checkpoint is corrupt: starting over instead would
    silently discard them."""
    return TritterError(
        f"{newest} (no older intact checkpoint under {root} to fall back to; remove its step "
        "folders to start over)"
    )


def sha256_files(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """name → sha256 of each file under a local folder, a few files at once."""
    names = list(names)
    with ThreadPoolExecutor(max(1, min(HASH_THREADS, len(names)))) as pool:
        digests = pool.map(lambda name: storage.sha256_file(folder / name), names)
        return dict(zip(names, digests, strict=True))


def verify(checkpoint: Checkpoint, folder: Path, names: Iterable[str] | None = None) -> None:
    """Compare the sha256 of the checkpoint's files in a local folder (the step folder itself,
    or its download) with the commit marker's: `CorruptCheckpoint` naming the first file that
    differs. `names`: only these files (default: all committed)."""
    recorded = checkpoint.marker.get("sha256")
    if not isinstance(recorded, dict):
        return  # a marker from before hashes were recorded: sizes were checked already
    wanted = [n for n in (checkpoint.marker["files"] if names is None else names) if n in recorded]
    for name, digest in sha256_files(folder, wanted).items():
        if digest != recorded[name]:
            raise CorruptCheckpoint(
                f"{storage.join(checkpoint.uri, name)}: sha256 differs from "
                f"{storage.join(checkpoint.uri, COMMIT_MARKER)} (corrupt checkpoint)"
            )


def verify_export(uri: str) -> None:
    """A training run's `final/` export: compare its files with the sha256 the checkpoints
    folder's manifest records for them (written after the export). Any other Hugging Face
    directory has no such record and is not checked."""
    from tritter.manifest import manifest_uri, read_manifest

    base = storage.normalize(uri).rstrip("/\\")
    name = storage.basename(base)
    root = base[: -len(name)].rstrip("/\\")
    found = read_manifest(root) if name == FINAL and root else None
    for entry in found.files if found is not None else []:
        if entry.path.startswith(f"{FINAL}/"):
            file_uri = storage.join(root, *entry.path.split("/"))
            if storage.sha256_uri(file_uri) != entry.sha256:
                raise CorruptCheckpoint(
                    f"{file_uri}: sha256 differs from {manifest_uri(root)} (corrupt export)"
                )


def is_hf_dir(uri: str) -> bool:
    """A Hugging Face model directory (the final export, or any BitNet checkpoint)."""
    return storage.exists(storage.join(uri, "config.json"))


def resolve(uri: str) -> Checkpoint:
    """A step folder (it has its own marker) or a checkpoints root (its newest committed step).

    A one-line error when there is no complete checkpoint at `uri`."""
    base = storage.normalize(uri)
    name = storage.basename(base)
    match = _STEP_FOLDER.match(name)
    if match and storage.exists(storage.join(base, COMMIT_MARKER)):
        parent = base[: -len(name)].rstrip("/\\") or "/"
        step = int(match.group(1))
        folder = next(f for f in CheckpointStore(parent).folders() if f.step == step)
        return CheckpointStore(parent).validate(folder)
    latest = CheckpointStore(base).latest()
    if latest is None:
        raise TritterError(
            f"{uri}: no complete checkpoint (no config.json and no step folder with "
            f"{COMMIT_MARKER})"
        )
    return latest


def identity(uri: str) -> dict[str, Any]:
    """What identifies the weights at `uri` without loading them (for the skip fingerprint).

    A Hugging Face directory: its file names and sizes plus config.json's hash. A checkpoints
    root or step folder: the step it resolves to and its commit marker's hash.
    """
    if not storage.list_objects(uri):
        raise TritterError(f"{uri}: checkpoint not found")
    if is_hf_dir(uri):
        base = storage.normalize(uri).rstrip("/")
        config_hash = hashlib.sha256(storage.read_bytes(storage.join(base, "config.json")))
        files = sorted(
            (name, item.size)
            for item in storage.list_objects(base)
            if "/" not in (name := item.uri[len(base) :].lstrip("/").replace("\\", "/"))
        )
        return {"kind": "huggingface", "config_sha256": config_hash.hexdigest(), "files": files}
    checkpoint = resolve(uri)  # the step training would resume from (marker validated)
    marker = storage.read_bytes(storage.join(checkpoint.uri, COMMIT_MARKER))
    return {
        "kind": "pretrain",
        "marker": f"{storage.basename(checkpoint.uri)}/{COMMIT_MARKER}",
        "marker_sha256": hashlib.sha256(marker).hexdigest(),
    }
