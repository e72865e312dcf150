"""Kernel tests run the real Triton kernels: on the GPU when there is one, otherwise on the CPU
through Triton's interpreter. TRITON_INTERPRET is read when a kernel is decorated, i.e. when the
`tritter.kernels.*` modules are first imported, so it is set here, before the test modules
import them."""

import os
import sys

import pytest
import torch

ON_GPU = torch.cuda.is_available()
if not ON_GPU:
    if "tritter.kernels.quant" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("tritter.kernels was imported before TRITON_INTERPRET=1 could be set")
    os.environ["TRITON_INTERPRET"] = "1"

# triton is a dependency on Linux: a missing install must fail the kernel tests, not skip them.
import triton  # noqa: E402, F401


@pytest.fixture
def device():
    return torch.device("cuda" if ON_GPU else "cpu")
