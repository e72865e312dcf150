"""The ternary linear layer on the Triton kernels, with a straight-through backward.

Forward: per-token int8 activation codes, ternary weight codes (both computed on the device),
int8 × ternary matmul with the scales in the epilogue. The int8 codes and scales are what the
backward pass keeps — 1 byte per activation instead of 2–4 — and it needs nothing else, because
under the straight-through estimator the gradients are those of F.linear at the *quantized*
operands:

    grad_x = grad_y · (q_W / s_W)         grad_W = grad_yᵀ · (q_x / s_x)

(the same as autograd through `tritter.model.bitlinear.bitlinear_reference`). Both backward
matmuls run in the gradient's dtype (bf16 in mixed precision) on the regular tensor-core path.
"""

from __future__ import annotations

import torch

from tritter.kernels.matmul import int8_ternary_matmul
from tritter.kernels.quant import act_quant, weight_ternary


def _output_dtype(x: torch.Tensor) -> torch.dtype:
    # Under autocast the reference F.linear computes in the autocast dtype; match it.
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


class BitLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        out_dtype = _output_dtype(x)
        flat = x.reshape(-1, x.shape[-1])
        xq, x_scale = act_quant(flat)
        wq, w_scale = weight_ternary(weight)
        out = int8_ternary_matmul(xq, x_scale, wq, w_scale, out_dtype)
        ctx.save_for_backward(xq, x_scale, wq, w_scale)
        ctx.input_dtype, ctx.weight_dtype = x.dtype, weight.dtype
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        xq, x_scale, wq, w_scale = ctx.saved_tensors
        flat = grad.reshape(-1, grad.shape[-1])
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            weight = (wq.float() / w_scale).to(flat.dtype)
            grad_x = (flat @ weight).reshape(*grad.shape[:-1], wq.shape[1]).to(ctx.input_dtype)
        if ctx.needs_input_grad[1]:
            x = (xq.float() / x_scale[:, None]).to(flat.dtype)
            grad_w = (flat.T @ x).to(ctx.weight_dtype)
        return grad_x, grad_w


def bitlinear(
    x: torch.Tensor,
    weight: torch.Tensor,
    codes: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Ternary-weight, int8-activation linear (no bias) with STE gradients, on Triton kernels.

    `codes` = weight_ternary(weight) computed earlier (inference: no gradient, see
    BitLinear.inference_weight) skips the weight quantization."""
    if codes is None:
        return BitLinearFunction.apply(x, weight)
    flat = x.reshape(-1, x.shape[-1])
    out = int8_ternary_matmul(*act_quant(flat), *codes, _output_dtype(x))
    return out.reshape(*x.shape[:-1], weight.shape[0])
