"""BitLinear: a `nn.Linear` whose forward sees ternary weights and int8 activations.

BitNet b1.58 "online" quantization, exactly as in the 2B4T training recipe and Hugging Face's
`AutoBitLinear`:

* weights, per tensor: s = 1 / mean(|W|) (clamped at 1e-5), W_q = round(W·s).clamp(-1, 1) / s;
* activations, per token (last dim): s = 127 / max(|x|) (clamped at 1e-5),
  x_q = round(x·s).clamp(-128, 127) / s;
* straight-through estimator: the backward pass treats both quantizers as the identity, so the
  latent (bf16/fp32) weights keep receiving the dense gradient.

Both quantizers compute in fp32 and return the input dtype, like the reference, so fp32 logits
match `transformers` to rounding. The latent weight stays a plain `weight` parameter: state dicts,
FSDP sharding and optimizers see an ordinary Linear. On CUDA the Triton kernels in
`tritter.kernels` replace this reference path (same numerics, fused, no host syncs).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tritter.errors import TritterError
from tritter.model.layers import RMSNorm


def weight_quant_reference(weight: torch.Tensor) -> torch.Tensor:
    """Absmean ternarization, dequantized (values in {-1, 0, 1} / s), in the input dtype."""
    w = weight.float()
    scale = 1.0 / w.abs().mean().clamp(min=1e-5)
    return ((w * scale).round().clamp(-1, 1) / scale).to(weight.dtype)


def act_quant_reference(x: torch.Tensor) -> torch.Tensor:
    """Per-token absmax int8 quantization, dequantized, in the input dtype."""
    a = x.float()
    scale = 127.0 / a.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return ((a * scale).round().clamp(-128, 127) / scale).to(x.dtype)


class _WeightQuantSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, weight: torch.Tensor) -> torch.Tensor:
        return weight_quant_reference(weight)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return grad


class _ActQuantSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        return act_quant_reference(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def weight_quant(weight: torch.Tensor) -> torch.Tensor:
    """Ternary weights with a straight-through gradient."""
    return _WeightQuantSTE.apply(weight)


def act_quant(x: torch.Tensor) -> torch.Tensor:
    """Int8 activations with a straight-through gradient."""
    return _ActQuantSTE.apply(x)


def bitlinear_reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The pure-PyTorch ternary linear: F.linear(act_quant(x), weight_quant(W)) under STE."""
    return F.linear(act_quant(x), weight_quant(weight))


class BitLinear(nn.Linear):
    """Linear layer without bias; ternary W / int8 A when `quantize`, plain `F.linear` otherwise.

    `kernel` chooses the implementation of the quantized path: "auto" uses the Triton kernels on
    CUDA tensors and the PyTorch reference elsewhere; "reference" and "triton" force one (tests
    force "triton" on the CPU under TRITON_INTERPRET=1). The environment variable
    TRITTER_BITLINEAR_KERNEL sets the default for every layer (e.g. "reference" to rule the
    kernels out when debugging a GPU run).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        quantize: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=False, device=device, dtype=dtype)
        self.quantize = quantize
        self.kernel = os.environ.get("TRITTER_BITLINEAR_KERNEL", "auto")
        if self.kernel not in ("auto", "reference", "triton"):
            raise TritterError(
                f"TRITTER_BITLINEAR_KERNEL must be auto, reference or triton, not '{self.kernel}'"
            )

    def uses_triton(self, x: torch.Tensor) -> bool:
        """Whether the quantized path runs on the Triton kernels for this input."""
        return self.kernel == "triton" or (self.kernel == "auto" and x.is_cuda and _triton_ready())

    def inference_weight(
        self, triton: bool
    ) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None:
        """The quantized weight, reused across calls while no gradient is recorded.

        Generation calls every layer once per new token; re-ternarizing all weights each time
        would cost far more than the one-token matmul itself. Outside autograd (eval, no_grad,
        inference_mode) the quantized weight is kept — int8 codes + scale for the Triton path,
        the dequantized tensor for the reference — and recomputed when the weight changes
        (in-place update, load_state_dict, .to()). Returns None when grads are recorded or
        under torch.compile (which would graph-break on the cache bookkeeping).
        """
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return None
        weight = self.weight
        key = (weight._version, weight.data_ptr(), weight.dtype, weight.device, triton)
        cached = self.__dict__.get("_inference_cache")
        if cached is None or cached[0] != key:
            if triton:
                from tritter.kernels.quant import weight_ternary

                value = weight_ternary(weight)
            else:
                value = weight_quant_reference(weight)
            # A plain attribute, not a buffer: never in state dicts, never moved by .to().
            self.__dict__["_inference_cache"] = cached = (key, value)
        return cached[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.quantize:
            return F.linear(x, self.weight)
        triton = self.uses_triton(x)
        cached = self.inference_weight(triton)
        if triton:
            from tritter.kernels.bitlinear import bitlinear as triton_bitlinear

            return triton_bitlinear(x, self.weight, codes=cached)
        if cached is not None:
            return F.linear(act_quant_reference(x), cached)
        return bitlinear_reference(x, self.weight)

    def extra_repr(self) -> str:
        mode = "ternary" if self.quantize else "dense"
        return f"in_features={self.in_features}, out_features={self.out_features}, {mode}"


_TRITON_READY: bool | None = None


def _triton_ready() -> bool:
    """Whether the Triton path can be used (checked once; a missing triton means reference)."""
    global _TRITON_READY
    if _TRITON_READY is None:
        try:
            from tritter.kernels.bitlinear import bitlinear  # noqa: F401

            _TRITON_READY = True
        except ImportError:
            _TRITON_READY = False
    return _TRITON_READY


def norm_then_linears(
    norm: RMSNorm, x: torch.Tensor, linears: Sequence[BitLinear]
) -> list[torch.Tensor]:
    """[linear(norm(x)) for linear in linears] — on the Triton path as one fused call that
    normalises and quantizes x once for all the projections (tritter.kernels.norm_linear)."""
    if all(linear.quantize for linear in linears) and linears[0].uses_triton(x):
        from tritter.kernels.norm_linear import norm_bitlinear

        weights = [linear.weight for linear in linears]
        codes = [linear.inference_weight(triton=True) for linear in linears]
        return list(norm_bitlinear(x, norm.weight, norm.eps, weights, codes=codes))
    h = norm(x)
    return [linear(h) for linear in linears]
