"""Triton kernels for the ternary hot path, imported as `tritter.kernels` (see setup.py).

    tritter.kernels.reference   pure-PyTorch versions of every kernel (no Triton needed)
    tritter.kernels.quant       per-token int8 activations (optionally fused with RMSNorm),
                                absmean ternary weights
    tritter.kernels.matmul      int8 × ternary matmul, int32 accumulation, scales in the epilogue
    tritter.kernels.bitlinear   the autograd Function the model's BitLinear uses on CUDA

This package imports nothing on its own, so `tritter.kernels.reference` works without Triton.
Set TRITON_INTERPRET=1 before the kernel modules are imported to run them on the CPU.
"""
