"""Triton kernels for the ternary hot path, imported as `tritter.kernels` (see setup.py)."""
