"""The checkpoints folder: `step-%08d/` folders, commit markers, choosing and pruning.

A step folder is complete only when its `_COMMITTED` marker exists. The marker is written last
(after every rank has uploaded its files) and lists every file with its size, so:

* a folder interrupted mid-write has no marker and is never chosen;
* the newest folder with a valid marker whose listed files are all present wins;
* a marker that does not parse, or lists a file that is missing or has another size, is a
  corrupt checkpoint: a one-line error rather than silently training from an older state.

Works on local folders and s3:// alike through `tritter.storage` (one listing per query).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from tritter import storage
from tritter.errors import TritterError

COMMIT_MARKER = "_COMMITTED"
MARKER_FORMAT = "tritter.checkpoint/1"
_STEP_FOLDER = re.compile(r"^step-(\d{8})$")


def step_folder(step: int) -> str:
    return f"step-{step:08d}"


@dataclass(frozen=True)
class Checkpoint:
    """One committed step folder."""

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

    def _folders(self) -> dict[int, dict[str, int]]:
        """step → {relative file name: size} for every step folder under the root."""
        folders: dict[int, dict[str, int]] = {}
        base = self.root.rstrip("/")
        for item in storage.list_objects(self.root):
            relative = item.uri[len(base) :].lstrip("/").replace("\\", "/")
            head, _, rest = relative.partition("/")
            match = _STEP_FOLDER.match(head)
            if match and rest:
                folders.setdefault(int(match.group(1)), {})[rest] = item.size
        return folders

    def _read_marker(self, step: int, files: dict[str, int]) -> dict[str, Any]:
        uri = storage.join(self.step_uri(step), COMMIT_MARKER)
        try:
            marker = json.loads(storage.read_text(uri))
        except (ValueError, UnicodeDecodeError) as err:
            raise TritterError(f"{uri}: corrupt checkpoint marker ({err})") from err
        if (
            not isinstance(marker, dict)
            or marker.get("step") != step
            or not isinstance(marker.get("files"), list)
        ):
            raise TritterError(f"{uri}: corrupt checkpoint marker (missing step or files)")
        sizes = marker.get("sizes", {})
        for name in marker["files"]:
            if name not in files:
                raise TritterError(
                    f"{self.step_uri(step)}: corrupt checkpoint: committed file {name} is missing"
                )
            if name in sizes and sizes[name] != files[name]:
                raise TritterError(
                    f"{self.step_uri(step)}: corrupt checkpoint: {name} has {files[name]} "
                    f"bytes, the marker says {sizes[name]}"
                )
        return marker

    def committed_steps(self) -> list[int]:
        return sorted(s for s, files in self._folders().items() if COMMIT_MARKER in files)

    def latest(self) -> Checkpoint | None:
        """The newest committed checkpoint (validated), or None for a fresh run."""
        folders = self._folders()
        steps = sorted((s for s, f in folders.items() if COMMIT_MARKER in f), reverse=True)
        if not steps:
            return None
        step = steps[0]
        marker = self._read_marker(step, folders[step])
        return Checkpoint(step, self.step_uri(step), marker)

    def commit(self, step: int, world_size: int, extra: dict[str, Any] | None = None) -> None:
        """Write the marker listing what the step folder holds now (call after all uploads)."""
        files = self._folders().get(step, {})
        files.pop(COMMIT_MARKER, None)
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
        folders = self._folders()
        committed = sorted(s for s, f in folders.items() if COMMIT_MARKER in f)
        if not committed:
            return []
        keep = set(committed[-keep_last:])
        newest = committed[-1]
        removed = []
        for step in sorted(folders):
            if step in keep or step > newest:
                continue  # a newer uncommitted folder may be a save in progress
            # The marker goes first so a crash mid-delete leaves an uncommitted folder.
            storage.delete(storage.join(self.step_uri(step), COMMIT_MARKER))
            self.remove(step)
            removed.append(step)
        return removed
