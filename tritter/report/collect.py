"""Read everything a run folder holds that the report shows.

A run is one root URI with `raw/ filtered/ curated/ tokenizer/ tokens/ checkpoints/ eval/`.
Stages may be missing (a report on a run still training is useful), and a live run's
`metrics.jsonl` may end in a half-written line; such gaps become warnings in the report, never
failures. Only "there is no run here at all" is an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from tritter import manifest, storage
from tritter.errors import TritterError
from tritter.train.store import COMMIT_MARKER

STAGE_FOLDERS = ("raw", "filtered", "curated", "tokenizer", "tokens", "checkpoints", "eval")
# Step folders are matched loosely here (any number of digits): the report also lists folders a
# different naming width left behind, where training itself only ever writes step-%08d.
_STEP_FOLDER = re.compile(r"^step-(\d+)$")


@dataclass
class Checkpoint:
    step: int
    uri: str
    committed: bool
    marker: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunData:
    root: str
    manifests: dict[str, manifest.Manifest] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)  # stage folders that exist at all
    train_config: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    final_export: bool = False
    eval_results: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.metrics if r.get("kind") == kind]


def collect(root: str) -> RunData:
    root = storage.normalize(root)
    data = RunData(root=root)
    for folder in STAGE_FOLDERS:
        uri = storage.join(root, folder)
        try:
            found = manifest.read_manifest(uri)
        except (TritterError, AttributeError, TypeError) as err:
            # A corrupt manifest: the folder is there, its stage unknown. (read_manifest raises
            # AttributeError itself for valid JSON that is not an object.)
            reason = (
                str(err)
                if isinstance(err, TritterError)
                else f"{manifest.manifest_uri(uri)}: corrupt manifest ({err})"
            )
            data.warnings.append(reason)
            data.present.append(folder)
            continue
        if found is not None:
            data.manifests[folder] = found
            data.present.append(folder)
        elif storage.list_objects(uri):  # started but not finished (e.g. training still running)
            data.present.append(folder)
    if not data.present:
        raise TritterError(
            f"{root}: no run here (none of {', '.join(f + '/' for f in STAGE_FOLDERS)} exist)"
        )
    if "checkpoints" in data.present:
        _collect_training(data, storage.join(root, "checkpoints"))
    if "eval" in data.present:
        data.eval_results = _read_json(storage.join(root, "eval", "results.json"), data)
    return data


def _read_json(uri: str, data: RunData) -> Any:
    try:
        return json.loads(storage.read_text(uri))
    except FileNotFoundError:
        data.warnings.append(f"{uri}: missing")
    except ValueError as err:
        data.warnings.append(f"{uri}: not valid JSON ({err})")
    return None


def _collect_training(data: RunData, folder: str) -> None:
    config_uri = storage.join(folder, "config.yaml")
    try:
        loaded = yaml.safe_load(storage.read_text(config_uri))
        data.train_config = loaded if isinstance(loaded, dict) else None
    except FileNotFoundError:
        data.warnings.append(f"{config_uri}: missing")
    except yaml.YAMLError as err:
        data.warnings.append(f"{config_uri}: invalid YAML ({' '.join(str(err).split())})")
    data.metrics = read_metrics(storage.join(folder, "metrics.jsonl"), data.warnings)
    steps: dict[int, Checkpoint] = {}
    for item in storage.list_objects(folder):
        relative = item.uri[len(folder) :].lstrip("/").replace("\\", "/")
        parts = relative.split("/")
        if parts[0] == "final" and parts[-1] == "config.json":
            data.final_export = True
        match = _STEP_FOLDER.match(parts[0])
        if not match or len(parts) < 2:
            continue
        step = int(match.group(1))
        checkpoint = steps.setdefault(
            step, Checkpoint(step, storage.join(folder, parts[0]), committed=False)
        )
        if len(parts) == 2 and parts[1] == COMMIT_MARKER:
            checkpoint.committed = True
            marker = _read_json(item.uri, data)
            checkpoint.marker = marker if isinstance(marker, dict) else {}
    data.checkpoints = [steps[step] for step in sorted(steps)]


def read_metrics(uri: str, warnings: list[str]) -> list[dict[str, Any]]:
    """metrics.jsonl records in file order; unreadable lines are counted, not fatal."""
    try:
        text = storage.read_text(uri)
    except FileNotFoundError:
        warnings.append(f"{uri}: missing")
        return []
    records, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict) and "kind" in record and "step" in record:
            records.append(record)
        else:
            bad += 1
    if bad:
        warnings.append(f"{uri}: skipped {bad} unreadable line(s)")
    return records
