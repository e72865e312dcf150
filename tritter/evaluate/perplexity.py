"""Held-out loss, perplexity and bits per byte per subset (python, rust, docs, …).

The per-batch arithmetic (`Totals`, `batch_totals`: summed loss, scored tokens, bytes, and what
bits per byte means) lives with the training loss in tritter/train/loss.py, so validation during
training and this evaluation report the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import torch

from tritter import log, progress
from tritter.train.loss import Totals, batch_totals

_log = log.get_logger("evaluate.perplexity")


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
