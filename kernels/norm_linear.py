"""RMSNorm followed by one or more ternary linears, fused: the norm and the activation
quantization happen in one pass, once, however many projections read the normalised input.

In a BitNet block every BitLinear reads the output of an RMSNorm: q/k/v after input_layernorm,
gate/up after post_attention_layernorm, o_proj after attn_sub_norm, down_proj after
ffn_sub_norm. Unfused, q/k/v would each re-quantize the same tensor and the norm output would be
written and read again; here the fused kernel reads x once and writes int8 codes, and each
projection is an int8 × ternary matmul.

Backward (straight-through for both quantizers): with y = RMSNorm(x) and x̂ = x·rstd,
    grad_y = Σ_i grad_i · (q_Wi / s_Wi)            grad_Wi = grad_iᵀ · (q_y / s_y)
    grad_norm_weight = Σ_rows grad_y ⊙ x̂           grad_x = rstd · (g − x̂ · mean(g ⊙ x̂)),
                                                    g = grad_y ⊙ norm_weight
computed in fp32 from the saved input (rstd is recomputed: one cheap reduction).
"""

from __future__ import annotations

import torch

from tritter.kernels.bitlinear import _output_dtype
from tritter.kernels.matmul import int8_ternary_matmul
from tritter.kernels.quant import rmsnorm_act_quant, weight_ternary


class NormBitLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        norm_weight: torch.Tensor,
        eps: float,
        *weights: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        out_dtype = _output_dtype(x)
        flat = x.reshape(-1, x.shape[-1])
        _, yq, y_scale = rmsnorm_act_quant(flat, norm_weight, eps, store_output=False)
        outputs, codes = [], []
        for weight in weights:
            wq, w_scale = weight_ternary(weight)
            out = int8_ternary_matmul(yq, y_scale, wq, w_scale, out_dtype)
            outputs.append(out.reshape(*x.shape[:-1], weight.shape[0]))
            codes += [wq, w_scale]
        ctx.save_for_backward(flat, norm_weight, yq, y_scale, *codes)
        ctx.eps, ctx.input_shape, ctx.input_dtype = eps, x.shape, x.dtype
        ctx.weight_dtypes = [w.dtype for w in weights]
        return tuple(outputs)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, *grads: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        flat, norm_weight, yq, y_scale, *codes = ctx.saved_tensors
        compute = grads[0].dtype
        y = None
        grad_y = torch.zeros(flat.shape, dtype=torch.float32, device=flat.device)
        grad_weights = []
        for index, grad in enumerate(grads):
            wq, w_scale = codes[2 * index], codes[2 * index + 1]
            g = grad.reshape(-1, grad.shape[-1]).to(compute)
            grad_y += (g @ (wq.float() / w_scale).to(compute)).float()
            if ctx.needs_input_grad[3 + index]:
                if y is None:
                    y = (yq.float() / y_scale[:, None]).to(compute)
                grad_weights.append((g.T @ y).to(ctx.weight_dtypes[index]))
            else:
                grad_weights.append(None)
        x = flat.float()
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + ctx.eps)
        x_hat = x * rstd
        grad_norm = (grad_y * x_hat).sum(0).to(norm_weight.dtype)
        g = grad_y * norm_weight.float()
        grad_x = rstd * (g - x_hat * (g * x_hat).mean(-1, keepdim=True))
        grad_x = grad_x.to(ctx.input_dtype).reshape(ctx.input_shape)
        return (grad_x, grad_norm, None, *grad_weights)


def norm_bitlinear(
    x: torch.Tensor,
    norm_weight: torch.Tensor,
    eps: float,
    weights: list[torch.Tensor],
    codes: list[tuple[torch.Tensor, torch.Tensor] | None] | None = None,
) -> tuple[torch.Tensor, ...]:
    """[F.linear(act_quant(RMSNorm(x)), weight_quant(W)) for W in weights], fused, STE grads.

    `codes`: per weight, weight_ternary(W) computed earlier or None; when all are given (no
    gradient is recorded: inference) the weights are not re-quantized."""
    if codes is None or any(c is None for c in codes):
        return NormBitLinearFunction.apply(x, norm_weight, eps, *weights)
    flat = x.reshape(-1, x.shape[-1])
    _, yq, y_scale = rmsnorm_act_quant(flat, norm_weight, eps, store_output=False)
    out_dtype = _output_dtype(x)
    return tuple(
        int8_ternary_matmul(yq, y_scale, wq, w_scale, out_dtype).reshape(
            *x.shape[:-1], weight.shape[0]
        )
        for weight, (wq, w_scale) in zip(weights, codes, strict=True)
    )
