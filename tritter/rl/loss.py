"""Group-normalised advantages and the clipped policy-gradient loss, per token.

For a prompt's group of K completions with rewards r_1..r_K (GRPO),

    A_i = (r_i − mean(r)) / (std(r) + 1e-6)          (scale=False: r_i − mean(r), Dr. GRPO)

so a group whose completions all score the same teaches nothing. Every token t the policy wrote
in completion i gets A_i, and with ρ = π(t) / π_old(t) (π_old: the policy that sampled),

    loss_t = −min(ρ·A, clip(ρ, 1 − ε_low, 1 + ε_high)·A)  [+ β·k3_t]
    k3_t   = exp(ref_t − logp_t) − (ref_t − logp_t) − 1     (the KL estimator of GRPO, ≥ 0)

summed here and divided by the step's total of such tokens by the trainer (the token-level mean
of DAPO). At ρ = 1 (one update per rollout batch) the gradient is the plain policy gradient
Σ −A·∇log π(t).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tritter.train.loss import IGNORE_INDEX


def group_advantages(rewards: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """Advantages [G, K] from rewards [G, K] (one row per prompt)."""
    rewards = rewards.double()
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale:
        return centred
    return centred / (rewards.std(dim=1, unbiased=False, keepdim=True) + 1e-6)


def token_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p of each target [B, T] (0 where the target is `IGNORE_INDEX`), in fp32."""
    logps = torch.log_softmax(logits.float(), dim=-1)
    picked = logps.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(targets != IGNORE_INDEX, picked, torch.zeros_like(picked))


@dataclass
class TokenLosses:
    loss: torch.Tensor  # 0-d sum over learned tokens; backpropagates
    clipped: torch.Tensor  # 0-d: learned tokens whose ratio was clipped (detached)
    kl: torch.Tensor  # 0-d: Σ k3 over learned tokens (detached; 0 without a reference)


def policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    learned: torch.Tensor,
    clip_low: float,
    clip_high: float,
    kl_coef: float = 0.0,
    ref_logps: torch.Tensor | None = None,
) -> TokenLosses:
    """The clipped surrogate summed over `learned` tokens ([B, T] bool); `advantages` [B]."""
    mask = learned.float()
    ratio = torch.exp(logps - old_logps)
    advantage = advantages.to(logps.dtype).unsqueeze(1)
    unclipped = ratio * advantage
    clipped_ratio = ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    surrogate = torch.minimum(unclipped, clipped_ratio * advantage)
    per_token = -surrogate
    kl = torch.zeros((), dtype=logps.dtype, device=logps.device)
    if ref_logps is not None and kl_coef > 0:
        delta = ref_logps - logps
        k3 = torch.exp(delta) - delta - 1.0
        per_token = per_token + kl_coef * k3
        kl = (k3.detach() * mask).sum()
    was_clipped = (clipped_ratio != ratio).float() * mask
    return TokenLosses((per_token * mask).sum(), was_clipped.sum().detach(), kl)
