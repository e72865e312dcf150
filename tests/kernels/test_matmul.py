"""int8 × ternary matmul and the BitLinear autograd Function against the references."""

import pytest
import torch

from tritter.kernels import reference
from tritter.kernels.bitlinear import bitlinear
from tritter.kernels.matmul import int8_ternary_matmul
from tritter.model.bitlinear import bitlinear_reference


@pytest.mark.parametrize(("m", "n", "k"), [(1, 1, 1), (5, 7, 33), (17, 19, 64), (33, 40, 70)])
def test_int8_ternary_matmul_is_exact_before_scaling(m, n, k, device):
    generator = torch.Generator().manual_seed(m * 100 + n)
    xq = torch.randint(-128, 128, (m, k), generator=generator, dtype=torch.int8).to(device)
    wq = torch.randint(-1, 2, (n, k), generator=generator, dtype=torch.int8).to(device)
    x_scale = (torch.rand(m, generator=generator) + 0.5).to(device)
    w_scale = torch.tensor([3.0], device=device)
    got = int8_ternary_matmul(xq, x_scale, wq, w_scale, torch.float32)
    expected = reference.int8_ternary_matmul(xq, x_scale, wq, w_scale, torch.float32)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)
    # Undo the scales: the int32 accumulation itself is exact.
    integers = (got.double() * x_scale[:, None].double() * 3.0).round().long()
    assert torch.equal(integers, xq.long() @ wq.long().T)


def test_int8_ternary_matmul_bf16_output_and_strided_input(device):
    generator = torch.Generator().manual_seed(7)
    xq = torch.randint(-128, 128, (9, 48), generator=generator, dtype=torch.int8).to(device)
    wq = torch.randint(-1, 2, (48, 13), generator=generator, dtype=torch.int8).to(device).T
    scale = torch.ones(9, device=device)
    got = int8_ternary_matmul(xq, scale, wq, torch.ones(1, device=device), torch.bfloat16)
    assert got.dtype == torch.bfloat16 and got.shape == (9, 13)
    expected = (xq.long() @ wq.long().T).float()
    # One bf16 ulp: the GPU rounds fp32 → bf16 to nearest, Triton's CPU interpreter truncates.
    torch.testing.assert_close(got.float(), expected, rtol=2**-7, atol=0)


@pytest.mark.parametrize("shape", [(2, 3, 40), (1, 1, 16), (4, 5, 33)])
def test_bitlinear_forward_and_backward_match_the_reference(shape, device):
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(shape, generator=generator).to(device)
    w = (torch.randn(24, shape[-1], generator=generator) * 0.05).to(device)
    grad = torch.randn(*shape[:-1], 24, generator=generator).to(device)

    def run(function):
        xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = function(xi, wi)
        out.backward(grad)
        return out.detach(), xi.grad, wi.grad

    out, grad_x, grad_w = run(bitlinear)
    out_ref, grad_x_ref, grad_w_ref = run(bitlinear_reference)
    torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_x, grad_x_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_w, grad_w_ref, rtol=1e-4, atol=1e-5)
