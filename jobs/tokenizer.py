"""Tokenizer training as one plain function for a Kubeflow component (`tritter.jobs.tokenizer`).

    summary = train(config_json)   # {"output", "sha256", "vocab_size", "special_ids", ...}

`config_json` is a JSON object of `TokenizerConfig` fields (at least `input` and `output`).
Idempotent: a finished tokenizer folder for the same input and options is left as it is.
"""

from __future__ import annotations

import json
from typing import Any

from tritter.config import validate
from tritter.errors import TritterError
from tritter.tokenizer.config import TokenizerConfig


def parse_config(config_json: str) -> TokenizerConfig:
    try:
        data = json.loads(config_json)
    except ValueError as err:
        raise TritterError(f"tokenizer config: invalid JSON ({err})") from err
    if not isinstance(data, dict):
        raise TritterError("tokenizer config: expected a JSON object of TokenizerConfig fields")
    return validate(TokenizerConfig, data)


def train(config_json: str) -> dict[str, Any]:
    """Train (or find already trained) the tokenizer; returns the manifest's key facts."""
    from tritter.tokenizer.train import train as train_tokenizer

    config = parse_config(config_json)
    result = train_tokenizer(config)
    return {
        "output": config.output,
        "sha256": result.extra["sha256"],
        "vocab_size": result.extra["vocab_size"],
        "special_ids": result.extra["special_ids"],
        "compression": result.counts.get("compression", {}),
    }
