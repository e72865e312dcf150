"""How a checkpoint is prompted: as a base model (completion of the benchmark's prompt) or as a
chat model (the problem asked as a user turn in the chat template).

`--prompt-format auto` (the default) decides from what training wrote next to the weights:

* a checkpoints folder or one of its step folders: the folder's manifest (stage `pretrain`, `mid`
  or `sft`; its `extra.phase`); while training still runs there is no manifest yet, and the step
  folder's `config.yaml` (the resolved training config) says the `phase`;
* a Hugging Face directory: the `phase` in its `tritter.json`, else the manifest of the folder
  holding it (the `final/` export sits in its checkpoints folder).

A model from the `mid`, `sft`, `dpo` or `rl` phase was trained on conversations in the chat
template: chat.
Anything else — `pretrain`, or nothing recorded (a Hugging Face directory from elsewhere) — is a
base model. `--prompt-format base|chat` sets the format whatever was recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import yaml

from tritter import manifest, storage
from tritter.errors import TritterError
from tritter.run_folder import FINAL_INFO, TRAIN_CONFIG, TRAIN_MANIFESTS
from tritter.train.store import is_hf_dir, resolve

CHAT_PHASES = ("mid", "sft", "dpo", "rl")


@dataclass(frozen=True)
class PromptFormat:
    format: Literal["base", "chat"]
    phase: str | None  # the training phase recorded with the weights; None when none is
    decided_by: str  # the file the phase came from, or "--prompt-format"

    @property
    def chat(self) -> bool:
        return self.format == "chat"


def decide(checkpoint: str, requested: str) -> PromptFormat:
    """The prompt format for `checkpoint` given `--prompt-format` (auto, base or chat)."""
    phase, found_in = training_phase(checkpoint)
    if requested in ("base", "chat"):
        return PromptFormat(requested, phase, "--prompt-format")  # type: ignore[arg-type]
    return PromptFormat("chat" if phase in CHAT_PHASES else "base", phase, found_in or "nothing")


def training_phase(checkpoint: str) -> tuple[str | None, str | None]:
    """(phase, the file that says it) for the weights at `checkpoint`; (None, None) when no
    file does."""
    base = storage.normalize(checkpoint).rstrip("/")
    if is_hf_dir(base):
        info_uri = storage.join(base, FINAL_INFO)
        if storage.exists(info_uri):
            phase = _json(info_uri).get("phase")
            if isinstance(phase, str):
                return phase, info_uri
        return _manifest_phase(_parent(base))
    step = resolve(base)  # the step folder the weights come from
    root = base if storage.normalize(step.uri).rstrip("/") != base else _parent(base)
    phase, found_in = _manifest_phase(root)
    if phase is not None:
        return phase, found_in
    config_uri = storage.join(step.uri, TRAIN_CONFIG)
    if storage.exists(config_uri):
        config = yaml.safe_load(storage.read_text(config_uri))
        if isinstance(config, dict) and isinstance(config.get("phase"), str):
            return config["phase"], config_uri
    return None, None


def _manifest_phase(folder: str) -> tuple[str | None, str | None]:
    found = manifest.read_manifest(folder)
    if found is None or found.stage not in TRAIN_MANIFESTS:
        return None, None
    uri = manifest.manifest_uri(folder)
    return TRAIN_MANIFESTS[found.stage].parse(found, uri).extra.phase, uri


def _parent(uri: str) -> str:
    return uri[: -len(storage.basename(uri))].rstrip("/\\") or "/"


def _json(uri: str) -> dict:
    try:
        value = json.loads(storage.read_text(uri))
    except ValueError as err:
        raise TritterError(f"{uri}: not valid JSON ({err})") from err
    return value if isinstance(value, dict) else {}
