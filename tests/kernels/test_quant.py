"""Quantization kernels against their PyTorch references on ragged shapes."""

import pytest
import torch

from tritter.kernels import reference
from tritter.kernels.quant import act_quant, rmsnorm_act_quant, weight_ternary

RAGGED = [(1, 1), (3, 7), (5, 33), (17, 100), (2, 257)]


def codes_agree(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Integer codes equal, except that a value sitting within float rounding of a .5 boundary
    may land on either neighbour (the sums behind the scale differ in order)."""
    difference = (got.long() - expected.long()).abs()
    assert difference.max() <= 1
    assert (difference > 0).float().mean() <= 0.002


@pytest.mark.parametrize("shape", RAGGED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_act_quant_matches_reference(shape, dtype, device):
    x = (torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 3).to(dtype).to(device)
    q, scale = act_quant(x)
    q_ref, scale_ref = reference.act_quant(x)
    assert q.dtype == torch.int8 and scale.dtype == torch.float32
    # 127 / max may differ by one ulp (torch's CPU division is vectorised as a reciprocal).
    torch.testing.assert_close(scale, scale_ref, rtol=1e-6, atol=0)
    codes_agree(q, q_ref)
    # Given its own scale, every code is exactly round(x·s).clamp(-128, 127).
    assert torch.equal(q, (x.float() * scale[:, None]).round().clamp(-128, 127).to(torch.int8))


def test_act_quant_rounds_half_to_even_and_handles_zero_rows(device):
    # max 127 → scale 1: the values themselves are rounded.
    x = torch.tensor([[0.5, 1.5, 2.5, -0.5, -1.5, 126.5, 127.0, -3.7], [0.0] * 8], device=device)
    q, scale = act_quant(x)
    assert q[0].tolist() == [0, 2, 2, 0, -2, 126, 127, -4]
    assert q[1].tolist() == [0] * 8
    assert scale[1].item() == pytest.approx(127 / 1e-5)


@pytest.mark.parametrize("shape", RAGGED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_rmsnorm_act_quant_matches_reference(shape, dtype, device):
    generator = torch.Generator().manual_seed(1)
    x = (torch.randn(shape, generator=generator) * 2).to(dtype).to(device)
    weight = (torch.rand(shape[1], generator=generator) + 0.5).to(dtype).to(device)
    y, q, scale = rmsnorm_act_quant(x, weight, 1e-5)
    y_ref, q_ref, scale_ref = reference.rmsnorm_act_quant(x, weight, 1e-5)
    if dtype == torch.float32:
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(scale, scale_ref, rtol=1e-5, atol=0)
        codes_agree(q, q_ref)
    else:
        # Two bf16 ulps (two casts): Triton's CPU interpreter truncates fp32 → bf16 where the
        # GPU rounds to nearest.
        torch.testing.assert_close(y.float(), y_ref.float(), rtol=2**-6, atol=1e-6)
    # The codes and scales are exactly the quantization of the kernel's own normalised output.
    q_own, scale_own = reference.act_quant(y)
    torch.testing.assert_close(scale, scale_own, rtol=1e-6, atol=0)
    codes_agree(q, q_own)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (31, 17), (64, 130)])
@pytest.mark.parametrize("block", [64, 4096])
def test_weight_ternary_matches_reference(shape, block, device):
    w = (torch.randn(shape, generator=torch.Generator().manual_seed(2)) * 0.02).to(device)
    q, scale = weight_ternary(w, block=block)
    q_ref, scale_ref = reference.weight_ternary(w)
    torch.testing.assert_close(scale, scale_ref, rtol=1e-6, atol=0)
    assert set(q.unique().tolist()) <= {-1, 0, 1}
    # Given its own scale the kernel's codes are exactly round(W·s).clamp(-1, 1) ...
    exact = (w.float() * scale).round().clamp(-1, 1).to(torch.int8)
    assert torch.equal(q, exact)
    # ... and that scale is the reference's up to summation order.
    codes_agree(q, q_ref)


def test_weight_ternary_all_zero_weight_uses_the_clamp(device):
    q, scale = weight_ternary(torch.zeros(4, 6, device=device))
    assert torch.equal(q, torch.zeros(4, 6, dtype=torch.int8, device=device))
    assert scale.item() == pytest.approx(1e5)
