"""Fused RMSNorm + quantize-once + several ternary linears vs the unfused reference modules."""

import pytest
import torch

from tritter.kernels import reference
from tritter.kernels.norm_linear import norm_bitlinear
from tritter.kernels.quant import rmsnorm_act_quant
from tritter.model import RMSNorm
from tritter.model.bitlinear import bitlinear_reference


@pytest.mark.parametrize(
    ("rows", "hidden", "outs"), [(1, 16, (8,)), (7, 40, (24, 8, 8)), (9, 33, (5, 70))]
)
def test_norm_bitlinear_matches_norm_then_reference_linears(rows, hidden, outs, device):
    generator = torch.Generator().manual_seed(rows)
    x = torch.randn(2, rows, hidden, generator=generator).to(device)
    norm = RMSNorm(hidden, eps=1e-5).to(device)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5, generator=None)
    weights = [(torch.randn(n, hidden, generator=generator) * 0.05).to(device) for n in outs]
    grads = [torch.randn(2, rows, n, generator=generator).to(device) for n in outs]

    def run(fused):
        xi = x.clone().requires_grad_()
        norm.weight.grad = None
        ws = [w.clone().requires_grad_() for w in weights]
        if fused:
            outputs = norm_bitlinear(xi, norm.weight, norm.eps, ws)
        else:
            h = norm(xi)
            outputs = [bitlinear_reference(h, w) for w in ws]
        torch.autograd.backward(outputs, grads)
        return (
            [o.detach() for o in outputs],
            xi.grad,
            norm.weight.grad.clone(),
            [w.grad for w in ws],
        )

    outputs, grad_x, grad_norm, grad_ws = run(True)
    outputs_ref, grad_x_ref, grad_norm_ref, grad_ws_ref = run(False)
    for got, expected in zip(outputs, outputs_ref, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_x, grad_x_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_norm, grad_norm_ref, rtol=1e-4, atol=1e-5)
    for got, expected in zip(grad_ws, grad_ws_ref, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_fused_norm_output_takes_the_promoted_dtype(device):
    """bf16 activations with an fp32 norm weight give an fp32 norm output, as in the module."""
    x = torch.randn(3, 24, generator=torch.Generator().manual_seed(5)).to(torch.bfloat16).to(device)
    weight = torch.linspace(0.5, 1.5, 24, device=device)
    y, q, scale = rmsnorm_act_quant(x, weight, 1e-5)
    y_ref, _, _ = reference.rmsnorm_act_quant(x, weight, 1e-5)
    assert y.dtype == y_ref.dtype == torch.float32
    # One bf16 ulp from the intermediate cast: the CPU interpreter truncates, the GPU rounds.
    torch.testing.assert_close(y, y_ref, rtol=2**-7, atol=1e-6)
    none, q_only, scale_only = rmsnorm_act_quant(x, weight, 1e-5, store_output=False)
    assert none is None and torch.equal(q_only, q) and torch.equal(scale_only, scale)
