"""Triton quantizers: per-token int8 activations (optionally fused with RMSNorm) and absmean
ternary weights — no host synchronisation, no `.item()`.

Rounding is round-half-to-even like `torch.round`, done with the 1.5·2²³ trick: adding and then
subtracting that constant leaves the nearest integer under the default IEEE rounding mode for
|v| < 2²², which covers every quantized value here (|v| ≤ 128). Triton's interpreter has no
`libdevice.rint`, and this keeps one code path for the CPU tests and the GPU (see `_clamp` for
why the product is clamped first).
"""

# Triton kernels take untyped pointers/values; their signatures cannot carry Python hints.
# ruff: noqa: ANN001, ANN202

from __future__ import annotations

import torch
import triton
import triton.language as tl

# A constexpr global: compiled kernels may only read globals that are tl.constexpr.
ROUND_MAGIC = tl.constexpr(12582912.0)  # 1.5 * 2**23


@triton.jit
def _round_half_even(v):
    return (v + ROUND_MAGIC) - ROUND_MAGIC


@triton.jit
def _clamp(v, bound):
    # Clamping the product to ±bound (an integer beyond the final range) before rounding changes
    # no result, but it separates the multiply from the magic-constant add, so the compiler
    # cannot contract them into an FMA (which would round the exact product, not the fp32
    # product that PyTorch rounds). Checked in the PTX by tests/kernels/aot_compile.py.
    return tl.minimum(tl.maximum(v, -bound), bound)


@triton.jit
def _norm_quant_kernel(
    x_ptr,
    w_ptr,
    y_ptr,
    q_ptr,
    s_ptr,
    cols,
    stride_x,
    stride_y,
    stride_q,
    eps,
    NORM: tl.constexpr,
    STORE_Y: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """One program per row: [RMSNorm →] absmax → int8 codes + fp32 multiplier, one read of x."""
    row = tl.program_id(0).to(tl.int64)
    offsets = tl.arange(0, BLOCK)
    inside = offsets < cols
    x = tl.load(x_ptr + row * stride_x + offsets, mask=inside, other=0.0)
    if NORM:
        h = x.to(tl.float32)
        rstd = tl.math.rsqrt(tl.sum(h * h, axis=0) / cols + eps)
        # Cast to the activation dtype before the weight, exactly like the model's RMSNorm.
        h = (h * rstd).to(x.dtype).to(tl.float32)
        weight = tl.load(w_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
        # y has the promoted dtype of (x, weight), as `weight * h.to(x.dtype)` has in PyTorch.
        y = (h * weight).to(y_ptr.dtype.element_ty)
        if STORE_Y:
            tl.store(y_ptr + row * stride_y + offsets, y, mask=inside)
        a = y.to(tl.float32)
    else:
        a = x.to(tl.float32)
    scale = 127.0 / tl.maximum(tl.max(tl.abs(a), axis=0), 1e-5)
    q = tl.minimum(tl.maximum(_round_half_even(_clamp(a * scale, 129.0)), -128.0), 127.0)
    tl.store(q_ptr + row * stride_q + offsets, q.to(tl.int8), mask=inside)
    tl.store(s_ptr + row, scale)


def _row_launch(cols: int) -> dict[str, int]:
    block = triton.next_power_of_2(cols)
    return {"BLOCK": block, "num_warps": min(16, max(1, block // 512))}


def act_quant(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [M, K] → (q int8 [M, K], s fp32 [M]) with s = 127 / max|x_row|."""
    rows, cols = x.shape
    x = x if x.stride(-1) == 1 else x.contiguous()
    q = torch.empty(rows, cols, dtype=torch.int8, device=x.device)
    scale = torch.empty(rows, dtype=torch.float32, device=x.device)
    if rows:
        _norm_quant_kernel[(rows,)](
            x, x, x, q, scale, cols, x.stride(0), 0, q.stride(0), 0.0, NORM=False, STORE_Y=False,
            **_row_launch(cols),
        )  # fmt: skip
    return q, scale


def rmsnorm_act_quant(
    x: torch.Tensor, weight: torch.Tensor, eps: float, store_output: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Fused RMSNorm + per-token int8 quantization: (y = RMSNorm(x), q int8, s fp32 [M]).

    y is in the promoted dtype of x and weight, like the model's RMSNorm output; with
    store_output=False it is not written at all (None): the fused linears only need q and s."""
    rows, cols = x.shape
    x = x if x.stride(-1) == 1 else x.contiguous()
    weight = weight.contiguous()
    y_dtype = torch.promote_types(x.dtype, weight.dtype)
    y = torch.empty(x.shape if store_output else (1, 1), dtype=y_dtype, device=x.device)
    q = torch.empty(rows, cols, dtype=torch.int8, device=x.device)
    scale = torch.empty(rows, dtype=torch.float32, device=x.device)
    if rows:
        _norm_quant_kernel[(rows,)](
            x, weight, y, q, scale, cols, x.stride(0), y.stride(0), q.stride(0), eps, NORM=True,
            STORE_Y=store_output, **_row_launch(cols),
        )  # fmt: skip
    return (y if store_output else None), q, scale


@triton.jit
def _abs_sum_kernel(w_ptr, partial_ptr, numel, BLOCK: tl.constexpr):
    """Partial sums of |W| per block (fp32), reduced on the device afterwards."""
    pid = tl.program_id(0).to(tl.int64)
    offsets = pid * BLOCK + tl.arange(0, BLOCK)
    w = tl.load(w_ptr + offsets, mask=offsets < numel, other=0.0).to(tl.float32)
    tl.store(partial_ptr + pid, tl.sum(tl.abs(w), axis=0))


@triton.jit
def _ternarize_kernel(w_ptr, q_ptr, total_ptr, s_ptr, numel, BLOCK: tl.constexpr):
    """q = round(W · s).clamp(-1, 1) with s = 1 / max(sum|W| / numel, 1e-5) read on the device."""
    pid = tl.program_id(0).to(tl.int64)
    scale = 1.0 / tl.maximum(tl.load(total_ptr) / numel, 1e-5)
    offsets = pid * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < numel
    w = tl.load(w_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    q = tl.minimum(tl.maximum(_round_half_even(_clamp(w * scale, 2.0)), -1.0), 1.0)
    tl.store(q_ptr + offsets, q.to(tl.int8), mask=inside)
    if pid == 0:
        tl.store(s_ptr, scale)


def weight_ternary(weight: torch.Tensor, block: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """W → (q int8 in {-1, 0, 1}, s fp32 [1]) with s = 1 / mean|W|, all on the device."""
    w = weight.contiguous()
    numel = w.numel()
    blocks = triton.cdiv(numel, block)
    partial = torch.empty(blocks, dtype=torch.float32, device=w.device)
    _abs_sum_kernel[(blocks,)](w, partial, numel, BLOCK=block)
    total = partial.sum(dtype=torch.float32)  # a device op: no host sync
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    scale = torch.empty(1, dtype=torch.float32, device=w.device)
    _ternarize_kernel[(blocks,)](w, q, total, scale, numel, BLOCK=block)
    return q, scale
