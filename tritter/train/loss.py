"""The token loss: what training minimises and what validation and evaluation report.

Targets equal to `IGNORE_INDEX` (what the loader writes into the padding rows that complete the
last batch of a pass) count nowhere: not in the loss, not in the token count, not in the bytes.
Losses are computed on fp32 logits and summed, never averaged, so sums over micro batches, ranks
and batches pool without weighting and each caller divides once by the total it needs.

Bits per byte makes models with different tokenizers comparable: the summed loss (nats) of the
predicted tokens divided by ln 2 times the UTF-8 bytes those tokens stand for,
bpb = Σ loss / (ln 2 · Σ bytes(target)). Special tokens (BOS/EOS/PAD) stand for no bytes; like
nanochat, they are left out of both sums for bpb (they are in loss and perplexity, which are per
token).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tritter.loader.dataset import IGNORE_INDEX

__all__ = ["IGNORE_INDEX", "Totals", "batch_totals", "scored_tokens", "token_loss_sum"]


def scored_tokens(targets: torch.Tensor) -> int:
    """How many targets are predicted (not `IGNORE_INDEX`)."""
    return int((targets != IGNORE_INDEX).sum())


def token_loss_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy (nats) of logits [B, T, V] against targets [B, T], ignored targets
    left out; a 0-d fp32 tensor that backpropagates."""
    return F.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX,
        reduction="sum",
    )  # fmt: skip


@dataclass
class Totals:
    """Loss and byte sums over scored tokens; `add` pools batches, subsets or ranks."""

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

    def summary(self) -> dict[str, float | int]:
        """loss (mean nats per token), perplexity, bpb, and the counts behind them."""
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
    """Loss and byte sums of one [B, L] batch (validation during training and `tritter evaluate`
    both use it, so the two report the same numbers). `token_bytes` [vocab] holds the UTF-8
    length of each token id and is on the logits' device."""
    losses = F.cross_entropy(
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
