"""Load what evaluation needs — checkpoint, tokenizer, held-out shards — with one-line errors
naming the URI when something is missing or does not fit together."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

from tritter import storage
from tritter.errors import TritterError
from tritter.train.store import COMMIT_MARKER, CheckpointStore


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise TritterError(f"--device: unknown device '{name}'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TritterError(f"--device {name}: CUDA is not available on this machine")
    return device


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def checkpoint_identity(uri: str) -> dict[str, Any]:
    """What identifies the weights at `uri` without loading them (for the skip fingerprint).

    A Hugging Face directory: its file names and sizes plus config.json's hash. A checkpoints
    root or step folder: the newest committed step and its commit marker's hash.
    """
    objects = storage.list_objects(uri)
    if not objects:
        raise TritterError(f"{uri}: checkpoint not found")
    base = storage.normalize(uri).rstrip("/")
    relative = {o.uri[len(base) :].lstrip("/").replace("\\", "/"): o for o in objects}
    if "config.json" in relative:
        config_hash = hashlib.sha256(storage.read_bytes(relative["config.json"].uri)).hexdigest()
        files = sorted((name, o.size) for name, o in relative.items() if "/" not in name)
        return {"kind": "huggingface", "config_sha256": config_hash, "files": files}
    if COMMIT_MARKER in relative:  # one committed step folder
        name, marker_uri = COMMIT_MARKER, relative[COMMIT_MARKER].uri
    else:  # a checkpoints root: the step training would resume from (marker validated)
        latest = CheckpointStore(uri).latest()
        if latest is None:
            raise TritterError(
                f"{uri}: no complete checkpoint (no config.json and no step folder with "
                f"{COMMIT_MARKER})"
            )
        name = f"{storage.basename(latest.uri)}/{COMMIT_MARKER}"
        marker_uri = storage.join(latest.uri, COMMIT_MARKER)
    marker = storage.read_bytes(marker_uri)
    return {
        "kind": "pretrain",
        "marker": name,
        "marker_sha256": hashlib.sha256(marker).hexdigest(),
    }


def load_model(uri: str, device: torch.device, dtype: torch.dtype) -> tuple[Any, dict[str, Any]]:
    """The model in eval mode on `device`, plus what results.json records about it."""
    checkpoint_identity(uri)  # a clear error for a missing or incomplete checkpoint first
    from tritter.train.checkpoint import load_model as load_any  # HF dirs too, local or S3

    model, info = load_any(uri)
    model = model.to(device=device, dtype=dtype).eval()
    info = dict(info or {})
    info.setdefault("uri", uri)
    info["parameters"] = sum(p.numel() for p in model.parameters())
    return model, info


def model_vocab_size(model: Any) -> int:
    config = getattr(model, "config", None)
    size = getattr(config, "vocab_size", None)
    if size is None:
        raise TritterError("model config has no vocab_size")
    return int(size)


def load_tokenizer(uri: str) -> Any:
    from tritter.tokenizer import Tokenizer

    try:
        return Tokenizer.load(uri)
    except FileNotFoundError as err:
        raise TritterError(f"{uri}: tokenizer not found") from err


def check_vocab(tokenizer: Any, model: Any, tokenizer_uri: str, info: dict[str, Any]) -> None:
    """The model must have been trained with this tokenizer (or at least its vocabulary)."""
    model_vocab = model_vocab_size(model)
    if tokenizer.vocab_size > model_vocab:
        raise TritterError(
            f"{tokenizer_uri}: vocab mismatch: tokenizer has {tokenizer.vocab_size} tokens, "
            f"the model's embedding only {model_vocab}"
        )
    trained_with = info.get("tokenizer_sha256")
    if trained_with and trained_with != tokenizer.sha256:
        raise TritterError(
            f"{tokenizer_uri}: vocab mismatch: sha256 {tokenizer.sha256[:12]}… differs from the "
            f"tokenizer the checkpoint was trained with ({trained_with[:12]}…)"
        )


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"
