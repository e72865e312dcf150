"""The preference losses on hand-computed numbers (no model)."""

from __future__ import annotations

import math

import pytest
import torch

from tritter.dpo.loss import preference_loss, sequence_logps


def _loss(kind: str, beta: float, smoothing: float = 0.0):
    # policy chosen/rejected, reference chosen/rejected: h = (-10 + 12) - (-14 + 13) = 3
    tensors = [torch.tensor([value], dtype=torch.float32) for value in (-10.0, -14.0)]
    reference = [torch.tensor([value], dtype=torch.float64) for value in (-12.0, -13.0)]
    return preference_loss(*tensors, *reference, beta, kind, smoothing)


def test_sigmoid_loss_and_rewards():
    result = _loss("sigmoid", 0.5)
    # -log σ(0.5 · 3) = log(1 + e^-1.5)
    assert float(result.losses[0]) == pytest.approx(math.log1p(math.exp(-1.5)), rel=1e-6)
    assert float(result.chosen_rewards[0]) == pytest.approx(0.5 * 2.0)
    assert float(result.rejected_rewards[0]) == pytest.approx(0.5 * -1.0)


def test_label_smoothing_is_cdpo():
    result = _loss("sigmoid", 0.5, 0.2)
    expected = 0.8 * math.log1p(math.exp(-1.5)) + 0.2 * math.log1p(math.exp(1.5))
    assert float(result.losses[0]) == pytest.approx(expected, rel=1e-6)


def test_ipo_loss():
    # (h − 1/(2β))² = (3 − 1/(2·0.25))² = (3 − 2)² = 1; β = 0.1: (3 − 5)² = 4
    assert float(_loss("ipo", 0.25).losses[0]) == pytest.approx(1.0, rel=1e-6)
    assert float(_loss("ipo", 0.1).losses[0]) == pytest.approx(4.0, rel=1e-6)


def test_at_the_reference_every_sigmoid_loss_is_ln2():
    same = torch.tensor([-5.0, -7.5])
    for smoothing in (0.0, 0.1, 0.3):
        result = preference_loss(same, same, same.double(), same.double(), 0.1, "sigmoid",
                                 smoothing)  # fmt: skip
        assert torch.allclose(result.losses, torch.full((2,), math.log(2)))


def test_the_gradient_raises_chosen_and_lowers_rejected():
    chosen = torch.tensor([-5.0], requires_grad=True)
    rejected = torch.tensor([-5.0], requires_grad=True)
    reference = torch.tensor([-5.0], dtype=torch.float64)
    preference_loss(chosen, rejected, reference, reference, 0.1).losses.sum().backward()
    assert chosen.grad[0] == pytest.approx(-0.05) and rejected.grad[0] == pytest.approx(0.05)


def test_sequence_logps_sums_only_targets():
    logits = torch.zeros(1, 3, 4)  # uniform: log p = -ln 4 per token
    targets = torch.tensor([[1, -100, 2]])
    assert float(sequence_logps(logits, targets)[0]) == pytest.approx(-2 * math.log(4))


def test_unknown_loss_type_is_an_error():
    with pytest.raises(ValueError, match="unknown DPO loss type"):
        _loss("hinge", 0.1)
