"""Validation loss and bits per byte on the held-out split, per subset, during training.

Uses the same per-batch sums as `tritter evaluate` (tritter/train/loss.py), so the numbers mean
exactly what evaluation reports: bpb = Σ loss / (ln 2 · Σ bytes of the target tokens), special
tokens excluded from bpb.
Every rank scores its share of the first `val_batches` global batches of each subset (the
loaders pad the last batch so all ranks run the same number of forwards, which FSDP needs) and
the sums are reduced over ranks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypedDict

import torch

from tritter.train.distributed import DistContext
from tritter.train.loss import Totals, batch_totals


class ValidationResult(TypedDict):
    val_loss: float | None  # mean nats per token over all subsets; None: no validation tokens
    val_bpb: float | None
    per_subset: dict[str, dict[str, float]]  # subset → {"loss", "bpb"}


class Validator:
    def __init__(
        self,
        data: str,
        subsets: list[str],
        ctx: DistContext,
        seq_len: int,
        micro_batch_size: int,
        seed: int,
        batches: int,
        token_bytes: torch.Tensor,
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> None:
        from tritter.loader import TokenLoader

        self.ctx, self.batches, self.autocast = ctx, batches, autocast
        self.token_bytes = token_bytes.to(ctx.device)
        self.loaders = {
            name: TokenLoader(
                data,
                split="val",
                subset=name,
                seq_len=seq_len,
                micro_batch_size=micro_batch_size,
                rank=ctx.rank,
                world_size=ctx.world_size,
                seed=seed,
                loop=False,
            )
            for name in subsets
        }

    @torch.no_grad()
    def run(self, model: torch.nn.Module) -> ValidationResult:
        was_training = model.training
        model.eval()
        overall = Totals()
        per_subset: dict[str, dict[str, float]] = {}
        for name, loader in self.loaders.items():
            loader.load_state_dict({**loader.state_dict(), "position": 0})
            count = min(self.batches, loader.batches_per_pass())
            local = Totals()
            for index, (inputs, targets) in enumerate(loader):
                if index >= count:
                    break
                inputs = inputs.to(self.ctx.device)
                targets = targets.to(self.ctx.device)
                with self.autocast():
                    logits = model(inputs)
                local.add(batch_totals(logits, targets, self.token_bytes))
            loss, tokens, byte_loss, nbytes_total = self.ctx.all_reduce(
                [local.loss_nats, local.tokens, local.byte_loss_nats, local.bytes]
            )
            totals = Totals(loss, int(tokens), byte_loss, int(nbytes_total), local.batches)
            if totals.tokens:
                summary = totals.summary()
                per_subset[name] = {"loss": summary["loss"], "bpb": summary["bpb"]}
                overall.add(totals)
        model.train(was_training)
        if not overall.tokens:
            return {"val_loss": None, "val_bpb": None, "per_subset": per_subset}
        summary = overall.summary()
        return {"val_loss": summary["loss"], "val_bpb": summary["bpb"], "per_subset": per_subset}
