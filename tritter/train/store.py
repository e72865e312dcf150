"""The checkpoints folder: the one reader (and writer) of step folders and commit markers.

Training writes `step-%08d/` folders; a step folder is complete only when its `_COMMITTED` marker
exists. The marker is written last (after every rank has uploaded its files) and lists every
file with its size, so:

* a folder interrupted mid-write has no marker and is never chosen;
* the newest folder with a valid marker whose listed files are all present wins;
* a marker that does not parse, or lists a file that is missing or has another size, is a
  corrupt checkpoint: a one-line error rather than silently training from an older state.

Training (resume, prune), evaluation (which weights to load), the report (which saves exist) and
`load_model` all read step folders through `CheckpointStore` and `resolve`. Works on local
folders and s3:// alike through `tritter.storage` (one listing per query).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tritter import storage
from tritter.errors import TritterError
from tritter.run_folder import COMMIT_MARKER, FINAL, STEP_PREFIX, step_folder

MARKER_FORMAT = "tritter.checkpoint/1"
# Any digit count: training writes eight, but a folder another width left behind still counts.
_STEP_FOLDER = re.compile(rf"^{re.escape(STEP_PREFIX)}(\d+)$")


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
            raise TritterError(f"{uri}: corrupt checkpoint marker ({err})") from err
        if (
            not isinstance(marker, dict)
            or marker.get("step") != folder.step
            or not isinstance(marker.get("files"), list)
        ):
            raise TritterError(f"{uri}: corrupt checkpoint marker (missing step or files)")
        sizes = marker.get("sizes", {})
        for name in marker["files"]:
            if name not in folder.files:
                raise TritterError(
                    f"{folder.uri}: corrupt checkpoint: committed file {name} is missing"
                )
            if name in sizes and sizes[name] != folder.files[name]:
                raise TritterError(
                    f"{folder.uri}: corrupt checkpoint: {name} has {folder.files[name]} "
                    f"bytes, the marker says {sizes[name]}"
                )
        return Checkpoint(folder.step, folder.uri, marker)

    def latest(self) -> Checkpoint | None:
        """The newest committed checkpoint (validated), or None for a fresh run."""
        committed = [folder for folder in self.folders() if folder.committed]
        return self.validate(committed[-1]) if committed else None

    def has_final(self) -> bool:
        """True once the final Hugging Face export (`final/config.json`) exists."""
        return storage.exists(storage.join(self.root, FINAL, "config.json"))

    # -- writing ---------------------------------------------------------------------------------

    def commit(self, step: int, world_size: int, extra: dict[str, Any] | None = None) -> None:
        """Write the marker listing what the step folder holds now (call after all uploads)."""
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
