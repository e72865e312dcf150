"""The preference losses, per pair, from summed log-probabilities of the two replies.

With π and r the policy's and the reference's Σ log p of a reply's learned tokens (the chat
template's mask: what the assistant writes in its last turn), c/r for chosen/rejected,

    h = (π_c − r_c) − (π_r − r_r)                   the log-ratio margin
    sigmoid (DPO)        −log σ(β·h)
    sigmoid, cDPO (ε)    −(1 − ε)·log σ(β·h) − ε·log σ(−β·h)    (ε: share of flipped labels)
    ipo                  (h − 1/(2β))²

The default is the sigmoid loss with ε = 0: it is the DPO paper's, TRL's default, and what
published recipes tune β for; IPO (Azar et al.) regularises toward a fixed margin instead and is
here for data whose preferences are near-deterministic (where DPO's loss keeps pushing h up).
IPO uses the summed log-probabilities as written in the paper (TRL divides them by the reply's
token count first; with sums, β sets the target margin of whole replies).

Rewards follow TRL: reward = β·(π − r) per reply; `reward_accuracy` is the share of pairs whose
chosen reward exceeds the rejected one, `reward_margin` the mean chosen − rejected reward. At the
start (policy = reference) h = 0, so the sigmoid loss is ln 2 for every ε, and IPO's is 1/(4β²).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class PairLosses:
    """Per pair: the loss (backpropagates) and the two rewards (detached)."""

    losses: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor


def preference_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> PairLosses:
    """Losses of pairs from [pairs] log-probability sums (policy's with grad, reference's
    without); computed in the policy's dtype (fp32)."""
    reference_chosen = reference_chosen.to(policy_chosen.dtype)
    reference_rejected = reference_rejected.to(policy_rejected.dtype)
    chosen = policy_chosen - reference_chosen
    rejected = policy_rejected - reference_rejected
    margin = chosen - rejected
    if loss_type == "sigmoid":
        losses = -(1.0 - label_smoothing) * F.logsigmoid(beta * margin)
        if label_smoothing:
            losses = losses - label_smoothing * F.logsigmoid(-beta * margin)
    elif loss_type == "ipo":
        losses = (margin - 1.0 / (2.0 * beta)) ** 2
    else:
        raise ValueError(f"unknown DPO loss type {loss_type!r} (sigmoid or ipo)")
    return PairLosses(losses, beta * chosen.detach(), beta * rejected.detach())


def sequence_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Σ log p(target) per row of logits [B, T, V] and targets [B, T] (`IGNORE_INDEX` rows
    left out): a [B] fp32 tensor that backpropagates."""
    from tritter.train.loss import IGNORE_INDEX

    nll = F.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view_as(targets)  # fmt: skip
    return -nll.sum(dim=1)
