"""Pure-PyTorch references for every Triton kernel in this package.

Each function returns exactly what its kernel returns (integer codes and fp32 scales, not
dequantized tensors), so the tests compare like with like. Scales are multipliers, as in the
BitNet papers and Hugging Face's offline format: x ≈ q_x / s_x, W ≈ q_W / s_W, hence
x·Wᵀ ≈ (q_x·q_Wᵀ) / (s_x·s_W) — an int8 × ternary product with the scales in the epilogue.
"""

from __future__ import annotations

import torch


def act_quant(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row absmax int8: (q int8 [M, K], s fp32 [M]) with s = 127 / max|x| (clamped 1e-5)."""
    a = x.float()
    scale = 127.0 / a.abs().amax(dim=-1).clamp(min=1e-5)
    q = (a * scale[:, None]).round().clamp(-128, 127).to(torch.int8)
    return q, scale


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """The model's RMSNorm: normalise in fp32, cast to x's dtype, then scale by the weight (the
    result has the promoted dtype, e.g. fp32 for bf16 activations and an fp32 weight)."""
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def rmsnorm_act_quant(
    x: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RMSNorm, then per-token int8 quantization of its output: (y, q, s)."""
    y = rmsnorm(x, weight, eps)
    q, scale = act_quant(y)
    return y, q, scale


def weight_ternary(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmean ternarization: (q int8 in {-1, 0, 1}, s fp32 [1]) with s = 1 / mean|W|."""
    w = weight.float()
    scale = 1.0 / w.abs().mean().clamp(min=1e-5)
    return (w * scale).round().clamp(-1, 1).to(torch.int8), scale.reshape(1)


def int8_ternary_matmul(
    xq: torch.Tensor,
    x_scale: torch.Tensor,
    wq: torch.Tensor,
    w_scale: torch.Tensor,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """(q_x · q_Wᵀ) / (s_x · s_W): exact integer product (int64 here), scales applied once."""
    acc = xq.long() @ wq.long().T
    return (acc.float() / (x_scale[:, None] * w_scale.reshape(1, 1))).to(out_dtype)
