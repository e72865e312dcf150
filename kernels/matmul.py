"""int8 activations × ternary (int8-coded) weights → int32 accumulation → scaled output.

out[m, n] = (Σ_k q_x[m, k] · q_W[n, k]) / (s_x[m] · s_W): the integer product is exact (|sum| ≤
128·K fits int32 for any K < 16M), and both scales are applied once in the epilogue, so the
tensor cores run int8 MMA (2× the bf16 rate on H100/H200) on operands half the size of bf16.
"""

# Triton kernels take untyped pointers/values; their signatures cannot carry Python hints.
# ruff: noqa: ANN001, ANN202

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton import knobs


def _configs() -> list[triton.Config]:
    if knobs.runtime.interpret:
        # The CPU interpreter: one small tile keeps the tests fast; no autotuning.
        return [triton.Config({"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 32, "GROUP_M": 4})]
    return [
        triton.Config(
            {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8},
            num_warps=warps,
            num_stages=stages,
        )
        for bm, bn, bk, warps, stages in (
            (128, 256, 128, 8, 3),
            (256, 128, 128, 8, 3),
            (128, 128, 128, 8, 4),
            (128, 128, 64, 4, 4),
            (64, 128, 128, 4, 4),
            (64, 64, 128, 4, 4),
            (32, 128, 128, 4, 4),
            (16, 128, 128, 4, 4),
        )
    ]


@triton.autotune(configs=_configs(), key=["M", "N", "K"])
@triton.jit
def _int8_matmul_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    a_scale_ptr,
    b_scale_ptr,
    M,
    N,
    K,
    stride_am,
    stride_ak,
    stride_bn,
    stride_bk,
    stride_cm,
    stride_cn,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    # Grouped tile order: consecutive programs share rows of A, so tiles stay in L2.
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    group = GROUP_M * tiles_n
    first_m = (pid // group) * GROUP_M
    group_rows = min(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % group) % group_rows
    pid_n = (pid % group) // group_rows

    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    ks = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + rows[:, None].to(tl.int64) * stride_am + ks[None, :] * stride_ak
    b_ptrs = b_ptr + cols[None, :].to(tl.int64) * stride_bn + ks[:, None] * stride_bk
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_inside = ks < K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=(rows[:, None] < M) & k_inside[None, :], other=0)
        b = tl.load(b_ptrs, mask=(cols[None, :] < N) & k_inside[:, None], other=0)
        acc = tl.dot(a, b, acc, out_dtype=tl.int32)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    a_scale = tl.load(a_scale_ptr + rows, mask=rows < M, other=1.0)
    b_scale = tl.load(b_scale_ptr)
    out = acc.to(tl.float32) / (a_scale[:, None] * b_scale)
    c_ptrs = c_ptr + rows[:, None].to(tl.int64) * stride_cm + cols[None, :] * stride_cn
    tl.store(c_ptrs, out.to(c_ptr.dtype.element_ty), mask=(rows[:, None] < M) & (cols[None, :] < N))


def int8_ternary_matmul(
    xq: torch.Tensor,
    x_scale: torch.Tensor,
    wq: torch.Tensor,
    w_scale: torch.Tensor,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """xq int8 [M, K], x_scale fp32 [M], wq int8 [N, K], w_scale fp32 [1] → [M, N] out_dtype."""
    rows, depth = xq.shape
    outputs = wq.shape[0]
    out = torch.empty(rows, outputs, dtype=out_dtype, device=xq.device)
    if rows == 0:
        return out

    def grid(meta: dict) -> tuple[int]:
        return (triton.cdiv(rows, meta["BLOCK_M"]) * triton.cdiv(outputs, meta["BLOCK_N"]),)

    _int8_matmul_kernel[grid](
        xq, wq, out, x_scale, w_scale, rows, outputs, depth,
        xq.stride(0), xq.stride(1), wq.stride(0), wq.stride(1), out.stride(0), out.stride(1),
    )  # fmt: skip
    return out
