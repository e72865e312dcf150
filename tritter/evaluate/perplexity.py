"""Held-out loss, perplexity and bits per byte per subset (python, rust, docs, …).

Bits per byte makes models with different tokenizers comparable: the summed loss (nats) of the
predicted tokens divided by ln 2 times the UTF-8 bytes those tokens stand for,
bpb = Σ loss / (ln 2 · Σ bytes(target)). Special tokens (BOS/EOS/PAD) stand for no bytes; like
nanochat, they are left out of both sums for bpb (they are in loss and perplexity, which are per
token).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from tritter import log, progress

_log = log.get_logger("evaluate.perplexity")
IGNORE_INDEX = -100


@dataclass
class Totals:
    loss_nats: float = 0.0  # over every scored token
    tokens: int = 0
    byte_loss_nats: float = 0.0  # over tokens that stand for bytes
    bytes: int = 0
    batches: int = 0

    def add(self, other: Totals) -> None:
        self.loss_nats += other.loss_nats
        self.tokens += other.tokens
        self.byte_loss_nats += other.byte_loss_nats
        self.bytes += other.bytes
        self.batches += other.batches

    def summary(self) -> dict[str, Any]:
        loss = self.loss_nats / self.tokens if self.tokens else float("nan")
        return {
            "loss": round(loss, 6),
            "perplexity": round(math.exp(loss), 6) if self.tokens else float("nan"),
            "bpb": round(self.byte_loss_nats / (math.log(2) * self.bytes), 6)
            if self.bytes
            else float("nan"),
            "tokens": self.tokens,
            "bytes": self.bytes,
            "batches": self.batches,
        }


def batch_totals(logits: torch.Tensor, targets: torch.Tensor, token_bytes: torch.Tensor) -> Totals:
    """Loss and byte sums of one [B, L] batch (validation during training uses it too, so the
    two report the same numbers). `token_bytes` is on the logits' device."""
    losses = torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view_as(targets)  # fmt: skip
    scored = targets != IGNORE_INDEX
    nbytes = torch.where(scored, token_bytes[targets.clamp(min=0)], 0)
    return Totals(
        loss_nats=float(losses[scored].double().sum()),
        tokens=int(scored.sum()),
        byte_loss_nats=float(losses[nbytes > 0].double().sum()),
        bytes=int(nbytes.sum()),
        batches=1,
    )


@torch.inference_mode()
def score_batches(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    token_bytes: torch.Tensor,
    device: torch.device,
    max_batches: int | None = None,
    desc: str = "perplexity",
) -> Totals:
    """Sum losses and bytes over (inputs, targets) batches of shape [B, L]."""
    totals = Totals()
    token_bytes = token_bytes.to(device)
    for inputs, targets in progress.track(batches, total=max_batches, desc=desc, unit="batch"):
        inputs, targets = inputs.to(device).long(), targets.to(device).long()
        totals.add(batch_totals(model(inputs), targets, token_bytes))
        if max_batches is not None and totals.batches >= max_batches:
            break
    return totals


def evaluate_subsets(
    model: torch.nn.Module,
    loaders: dict[str, Iterable[tuple[torch.Tensor, torch.Tensor]]],
    token_bytes: torch.Tensor,
    device: torch.device,
    max_batches: int | None = None,
) -> dict[str, Any]:
    """Per-subset and overall numbers (overall pools tokens, so big subsets weigh more)."""
    started = time.perf_counter()
    overall = Totals()
    subsets = {}
    for name, batches in loaders.items():
        totals = score_batches(model, batches, token_bytes, device, max_batches, f"ppl {name}")
        if totals.tokens == 0:
            log.event(_log, "held-out subset has no tokens; skipped", level=30, subset=name)
            continue
        subsets[name] = totals.summary()
        overall.add(totals)
        log.event(_log, "subset scored", subset=name, **subsets[name])
    return {
        "subsets": subsets,
        "overall": overall.summary() if overall.tokens else {},
        "seconds": round(time.perf_counter() - started, 3),
    }
