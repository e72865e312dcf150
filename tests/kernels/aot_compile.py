"""Compile every Triton kernel for real NVIDIA targets without a GPU (Triton ships ptxas).

Run as a subprocess by test_gpu_compile.py: the kernel modules must be imported *without*
TRITON_INTERPRET, which the kernel tests' conftest sets. Catches what the CPU interpreter does not
check (non-constexpr globals, int8 dot layouts, shared-memory limits of the autotune configs).
Prints one line per kernel and exits non-zero on the first failure.
"""

import os
import sys

assert os.environ.get("TRITON_INTERPRET") != "1", "run without TRITON_INTERPRET"

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from tritter.kernels import matmul, quant  # noqa: E402

ROW = {"x_ptr": "*bf16", "w_ptr": "*fp32", "y_ptr": "*fp32", "q_ptr": "*i8", "s_ptr": "*fp32",
       "cols": "i32", "stride_x": "i32", "stride_y": "i32", "stride_q": "i32", "eps": "fp32",
       "NORM": "constexpr", "STORE_Y": "constexpr", "BLOCK": "constexpr"}  # fmt: skip
MATMUL = {"a_ptr": "*i8", "b_ptr": "*i8", "c_ptr": "*bf16", "a_scale_ptr": "*fp32",
          "b_scale_ptr": "*fp32", "M": "i32", "N": "i32", "K": "i32", "stride_am": "i32",
          "stride_ak": "i32", "stride_bn": "i32", "stride_bk": "i32", "stride_cm": "i32",
          "stride_cn": "i32", "BLOCK_M": "constexpr", "BLOCK_N": "constexpr",
          "BLOCK_K": "constexpr", "GROUP_M": "constexpr"}  # fmt: skip


def jobs() -> list:
    result = [
        ("rmsnorm+act_quant", quant._norm_quant_kernel, ROW,
         {"NORM": True, "STORE_Y": True, "BLOCK": 8192}),
        ("act_quant", quant._norm_quant_kernel, ROW,
         {"NORM": False, "STORE_Y": False, "BLOCK": 4096}),
        ("abs_sum", quant._abs_sum_kernel,
         {"w_ptr": "*bf16", "partial_ptr": "*fp32", "numel": "i64", "BLOCK": "constexpr"},
         {"BLOCK": 4096}),
        ("ternarize", quant._ternarize_kernel,
         {"w_ptr": "*bf16", "q_ptr": "*i8", "total_ptr": "*fp32", "s_ptr": "*fp32",
          "numel": "i64", "BLOCK": "constexpr"}, {"BLOCK": 4096}),
    ]  # fmt: skip
    for config in matmul._configs():
        result.append((f"int8 matmul {config.kwargs}", matmul._int8_matmul_kernel.fn, MATMUL,
                       dict(config.kwargs)))  # fmt: skip
    return result


def main() -> int:
    for arch in (int(a) for a in sys.argv[1:] or ["90"]):
        target = GPUTarget("cuda", arch, 32)
        for name, fn, signature, constants in jobs():
            source = ASTSource(fn=fn, signature=signature, constexprs=constants)
            # Default options, FP fusion included, as a normal launch compiles them.
            compiled = triton.compile(source, target=target)
            assert "cubin" in compiled.asm, name
            # The rounding constant must be added, never fused into an FMA with the product.
            ptx = compiled.asm["ptx"].upper()
            if "0F4B400000" in ptx:
                fused = [line for line in ptx.splitlines() if "FMA" in line and "4B400000" in line]
                assert not fused, f"{name}: rounding add contracted into an FMA: {fused[0]}"
            print(f"sm_{arch} {name}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
