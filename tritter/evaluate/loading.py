"""Load what evaluation needs — checkpoint, tokenizer, held-out shards — with one-line errors
naming the URI when something is missing or does not fit together."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import torch

from tritter.errors import TritterError
from tritter.train.store import identity

if TYPE_CHECKING:
    from tritter.tokenizer import Tokenizer


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


def load_model(uri: str, device: torch.device, dtype: torch.dtype) -> tuple[Any, dict[str, Any]]:
    """The model in eval mode on `device`, plus what results.json records about it."""
    identity(uri)  # a clear error for a missing or incomplete checkpoint first
    from tritter.train.checkpoint import load_model as load_any  # HF dirs too, local or S3

    model, info = load_any(uri)
    model = model.to(device=device, dtype=dtype).eval()
    info = dict(info or {})
    info.setdefault("uri", uri)
    info["parameters"] = sum(p.numel() for p in model.parameters())
    return model, info


def model_vocab_size(model: torch.nn.Module) -> int:
    config = getattr(model, "config", None)
    size = getattr(config, "vocab_size", None)
    if size is None:
        raise TritterError("model config has no vocab_size")
    return int(size)


def load_tokenizer(uri: str) -> Tokenizer:
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
