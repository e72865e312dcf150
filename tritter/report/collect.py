"""Read everything a run folder holds that the report shows.

The folders and their manifests are those of `tritter.run_folder`; each stage's manifest is read
through its contract, so the report sees typed records or a warning naming the bad file and
field. Stages may be missing (a report on a run still training is useful), and a live run's
`metrics.jsonl` may end in a half-written line; such gaps become warnings in the report, never
failures. Only "there is no run here at all" is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from tritter import manifest, run_folder, storage
from tritter.errors import TritterError
from tritter.manifest import Contract, OneOf
from tritter.run_folder import (
    DPO_DATA_MANIFEST,
    SFT_DATA_MANIFEST,
    CurateManifest,
    DpoDataManifest,
    EvaluateManifest,
    PackManifest,
    PretrainManifest,
    SftDataManifest,
    TokenizerImportManifest,
    TokenizerManifest,
)
from tritter.train.store import CheckpointStore

# Folder → the contract of the stage writing it (the reserved folders have none).
CONTRACTS: dict[str, Contract | OneOf] = {
    contract.folder: contract for contract in run_folder.STAGES
}
CONTRACTS[run_folder.TOKENIZER] = run_folder.TOKENIZER_OUTPUT  # trained or imported
CONTRACTS[run_folder.SFT_EVAL] = run_folder.EVALUATE_MANIFEST
CONTRACTS[run_folder.DPO_EVAL] = run_folder.EVALUATE_MANIFEST
CONTRACTS[run_folder.RL_EVAL] = run_folder.EVALUATE_MANIFEST


@dataclass
class CheckpointRow:
    step: int
    uri: str
    committed: bool
    marker: dict[str, Any] = field(default_factory=dict)


@dataclass
class Phase:
    """A post-training phase folder (mid/, sft/, dpo/ or rl/): its training records and
    rendered data."""

    name: str
    metrics: list[dict[str, Any]] = field(default_factory=list)
    data: SftDataManifest | DpoDataManifest | None = None  # <phase>/data/_manifest.json


@dataclass
class RunData:
    root: str
    # Every finished folder's manifest: typed for the stages' folders, plain for reserved ones.
    manifests: dict[str, manifest.Manifest] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)  # folders that exist at all
    train_config: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[CheckpointRow] = field(default_factory=list)
    final_export: bool = False
    eval_results: dict[str, Any] | None = None
    # The post-trained model's evaluation: rl/eval/ or dpo/eval/ when those ran, else sft/eval/.
    sft_eval_results: dict[str, Any] | None = None
    sft_eval_folder: str = run_folder.SFT_EVAL
    phases: list[Phase] = field(default_factory=list)  # post-training, in order
    warnings: list[str] = field(default_factory=list)

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.metrics if r.get("kind") == kind]

    @property
    def metrics_records(self) -> int:
        """Training records of every phase: a run still training adds some."""
        return len(self.metrics) + sum(len(phase.metrics) for phase in self.phases)

    @property
    def curated(self) -> CurateManifest | None:
        return self.manifests.get(run_folder.CURATED)

    @property
    def tokenizer(self) -> TokenizerManifest | TokenizerImportManifest | None:
        return self.manifests.get(run_folder.TOKENIZER)

    @property
    def tokens(self) -> PackManifest | None:
        return self.manifests.get(run_folder.TOKENS)

    @property
    def pretrain(self) -> PretrainManifest | None:
        return self.manifests.get(run_folder.CHECKPOINTS)

    @property
    def evaluation(self) -> EvaluateManifest | None:
        return self.manifests.get(run_folder.EVAL)


def collect(root: str) -> RunData:
    run = run_folder.RunFolder(root)
    data = RunData(root=run.root)
    for name in (*run_folder.REPORTED_FOLDERS, *run_folder.POST_TRAINING_FOLDERS):
        uri = run.part(name)
        try:
            contract = CONTRACTS.get(name)
            found = contract.read(uri) if contract else manifest.read_manifest(uri)
        except TritterError as err:  # a corrupt manifest: the folder is there, unusable
            data.warnings.append(str(err))
            data.present.append(name)
            continue
        if found is not None:
            data.manifests[name] = found
            data.present.append(name)
        elif storage.list_objects(uri):  # started but not finished (e.g. training still running)
            data.present.append(name)
    if not data.present:
        folders = ", ".join(f + "/" for f in run_folder.REPORTED_FOLDERS)
        raise TritterError(f"{run.root}: no run here (none of {folders} exist)")
    if run_folder.CHECKPOINTS in data.present:
        _collect_training(data, run.checkpoints)
    if run_folder.EVAL in data.present:
        data.eval_results = _read_json(storage.join(run.eval, run_folder.RESULTS), data)
    for name in (run_folder.MID, run_folder.SFT, run_folder.DPO, run_folder.RL):
        if name in data.present:
            data.phases.append(_collect_phase(data, name, run.part(name)))
    for part in (run_folder.RL_EVAL, run_folder.DPO_EVAL, run_folder.SFT_EVAL):
        if part in data.present:
            results = storage.join(run.part(part), run_folder.RESULTS)
            data.sft_eval_results, data.sft_eval_folder = _read_json(results, data), part
            break
    return data


def _collect_phase(data: RunData, name: str, folder: str) -> Phase:
    phase = Phase(name, read_metrics(storage.join(folder, run_folder.METRICS), data.warnings))
    if name == run_folder.RL:  # rl/data holds prompt rows, shown through the metrics
        return phase
    try:
        contract = DPO_DATA_MANIFEST if name == run_folder.DPO else SFT_DATA_MANIFEST
        phase.data = contract.read(storage.join(folder, run_folder.SFT_DATA))
    except TritterError as err:
        data.warnings.append(str(err))
    return phase


def _read_json(uri: str, data: RunData) -> Any:
    try:
        return json.loads(storage.read_text(uri))
    except FileNotFoundError:
        data.warnings.append(f"{uri}: missing")
    except ValueError as err:
        data.warnings.append(f"{uri}: not valid JSON ({err})")
    return None


def _collect_training(data: RunData, folder: str) -> None:
    config_uri = storage.join(folder, run_folder.TRAIN_CONFIG)
    try:
        loaded = yaml.safe_load(storage.read_text(config_uri))
        data.train_config = loaded if isinstance(loaded, dict) else None
    except FileNotFoundError:
        data.warnings.append(f"{config_uri}: missing")
    except yaml.YAMLError as err:
        data.warnings.append(f"{config_uri}: invalid YAML ({' '.join(str(err).split())})")
    data.metrics = read_metrics(storage.join(folder, run_folder.METRICS), data.warnings)
    store = CheckpointStore(folder)
    data.final_export = store.has_final()
    for step_folder in store.folders():
        row = CheckpointRow(step_folder.step, step_folder.uri, step_folder.committed)
        if row.committed:
            try:
                row.marker = store.validate(step_folder).marker
            except TritterError as err:
                data.warnings.append(str(err))
        data.checkpoints.append(row)


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
