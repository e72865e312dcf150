"""AdamW with the BitNet parameter groups: weight decay on projection matrices only.

Norm weights, biases and the token embedding get no decay (decaying an embedding row pulls
rarely seen tokens to zero); the untied output head is a matrix and is decayed. The decay value
itself is set every step from the schedule (stage 2 of the BitNet recipe turns it off).
"""

from __future__ import annotations

import torch

from tritter.train.config import OptimConfig


def parameter_groups(model: torch.nn.Module) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim < 2 or "embed_tokens" in name or "norm" in name:
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "decay": True},
        {"params": no_decay, "decay": False, "weight_decay": 0.0},
    ]


def build_optimizer(
    model: torch.nn.Module, optim: OptimConfig, device: torch.device
) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        parameter_groups(model),
        lr=optim.lr,
        betas=(optim.beta1, optim.beta2),
        eps=optim.eps,
        weight_decay=optim.weight_decay,
        # Fused kernels on GPU; the foreach path on CPU (bit-reproducible there).
        fused=device.type == "cuda" or None,
        foreach=None if device.type == "cuda" else True,
    )


def set_hyperparameters(optimizer: torch.optim.Optimizer, lr: float, weight_decay: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["weight_decay"] = weight_decay if group.get("decay") else 0.0
