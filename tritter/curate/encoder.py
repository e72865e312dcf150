"""Document embeddings for semantic dedup: any Hugging Face encoder, mean-pooled and
L2-normalised, batched, on CUDA when there is one.

`--semantic-dedup` names the encoder: a local folder or `s3://` prefix holding what
`save_pretrained` wrote (the model and its tokenizer; an S3 prefix is downloaded once per
process), or `hf://ORG/NAME`, a hub id that `transformers` resolves through its own cache
(`HF_HOME`, `HF_HUB_OFFLINE`, `HF_TOKEN` apply as usual). Encoder-decoder models (T5-style
code encoders) are run through their encoder only. Models that need `trust_remote_code` are
not loaded: running code from a model folder is not something a curation run should do.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
from collections.abc import Sequence
from typing import Any

import numpy as np

from tritter import log, storage
from tritter.errors import TritterError

_log = log.get_logger("curate")

HF_PREFIX = "hf://"
# A tokenizer that declares no maximum reports this sentinel (transformers' VERY_LARGE_INTEGER).
_NO_LIMIT = 1_000_000
# Learned position tables of RoBERTa-style encoders start after the padding index: two fewer
# usable positions than `max_position_embeddings` says (harmless for the others).
_POSITION_OFFSET = 2


def hub_name(uri: str) -> str | None:
    """`hf://ORG/NAME` → `ORG/NAME`; None for a folder (local or s3://)."""
    return uri[len(HF_PREFIX) :].strip("/") if uri.startswith(HF_PREFIX) else None


def check(uri: str) -> None:
    """A one-line error, before any work, when `uri` cannot name an encoder."""
    name = hub_name(uri)
    if name is not None:
        if not name:
            raise TritterError(f"{uri}: no model name after hf:// (expected hf://ORG/NAME)")
        return
    config_uri = storage.join(uri, "config.json")
    if not storage.exists(config_uri):
        raise TritterError(
            f"{uri}: not a Hugging Face encoder folder (no config.json; expected the output "
            "of save_pretrained, or hf://ORG/NAME)"
        )
    # What would otherwise fail only at the first embed unit, after every shard was processed.
    try:
        config = json.loads(storage.read_bytes(config_uri))
    except ValueError as err:
        raise TritterError(f"{config_uri}: not valid JSON ({err})") from err
    from transformers import CONFIG_MAPPING

    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind not in CONFIG_MAPPING:
        needs_code = isinstance(config, dict) and "auto_map" in config
        raise TritterError(
            f"{config_uri}: model_type {kind!r} is not one transformers knows"
            + (" (the model needs trust_remote_code, which curation never enables)"
               if needs_code else "")
        )  # fmt: skip
    tokenizer_files = ("tokenizer.json", "tokenizer_config.json")
    if not any(storage.exists(storage.join(uri, name)) for name in tokenizer_files):
        raise TritterError(f"{uri}: no tokenizer (tokenizer.json or tokenizer_config.json) next to "
                           "the encoder")  # fmt: skip


def identity(uri: str) -> str:
    """What identifies the encoder's weights without loading them, for the curate fingerprint:
    a hub id as it is; a folder's file names and sizes plus its config.json's sha256 (new
    weights saved at the same path change it)."""
    if hub_name(uri) is not None:
        return uri
    folder = storage.normalize(uri)
    listed = sorted(
        (item.uri[len(folder) + 1 :], item.size) for item in storage.list_objects(folder)
    )
    config = storage.sha256_bytes(storage.read_bytes(storage.join(folder, "config.json")))
    return storage.sha256_bytes(repr((listed, config)).encode())


class Encoder:
    """A loaded encoder: `embed(texts)` → (len(texts), dim) float32 unit vectors."""

    def __init__(self, uri: str, max_tokens: int, batch_size: int) -> None:
        import torch

        self.torch = torch
        self.uri = uri
        self.batch_size = batch_size
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu" and multiprocessing.parent_process() is not None:
            # A pool worker shares the CPUs with the others, one per CPU: the pool is the
            # parallelism. OpenMP threads of every worker on every CPU spin against each other
            # (a 2-document batch took 0.7 s instead of 0.03 s on a busy 2-CPU machine).
            torch.set_num_threads(1)
        name = hub_name(uri)
        if name is not None:
            self._load(uri, name)
        else:
            with storage.local_folder(uri) as path:
                self._load(uri, str(path))
        config = self.model.config
        self.dim = int(getattr(config, "d_model", None) or config.hidden_size)
        limits = [max_tokens]
        if self.tokenizer.model_max_length < _NO_LIMIT:
            limits.append(int(self.tokenizer.model_max_length))
        positions = getattr(config, "max_position_embeddings", None)
        if positions:
            limits.append(int(positions) - _POSITION_OFFSET)
        self.max_tokens = max(1, min(limits))
        log.event(_log, "loaded encoder", encoder=uri, device=str(self.device), dim=self.dim,
                  max_tokens=self.max_tokens)  # fmt: skip

    def _load(self, uri: str, where: str) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar per worker per load: the stage shows its own
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(where)
            model = AutoModel.from_pretrained(where)
        except (OSError, ValueError, KeyError) as err:
            detail = " ".join(str(err).split())[:300]
            raise TritterError(f"{uri}: not a loadable encoder ({detail})") from err
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        self.model = model.to(self.device).eval()
        if self.tokenizer.pad_token is None:
            fallback = self.tokenizer.eos_token or self.tokenizer.unk_token
            if fallback is None:
                raise TritterError(f"{uri}: the tokenizer has no pad, eos or unk token")
            self.tokenizer.pad_token = fallback

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Mean of the last hidden states over each document's tokens (its first `max_tokens`),
        L2-normalised. Documents go by length, so a batch pads to similar lengths."""
        torch = self.torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            encoded = self.tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True,
                max_length=self.max_tokens, return_tensors="pt",
            )  # fmt: skip
            mask = encoded["attention_mask"].to(self.device)
            with torch.inference_mode():
                hidden = self._hidden(encoded["input_ids"].to(self.device), mask)
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
                unit = torch.nn.functional.normalize(pooled.float(), dim=-1)
            out[rows] = unit.cpu().numpy()
        return out

    def _hidden(self, input_ids: Any, mask: Any) -> Any:
        output = self.model(input_ids=input_ids, attention_mask=mask)
        return output[0]  # last_hidden_state


@functools.lru_cache(maxsize=1)
def load(uri: str, max_tokens: int, batch_size: int) -> Encoder:
    """The encoder, loaded once per process (every embed unit a worker runs reuses it)."""
    return Encoder(uri, max_tokens, batch_size)
