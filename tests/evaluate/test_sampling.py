from __future__ import annotations

import pytest
import torch

from tritter.evaluate.generation import sample_next, truncate_at_stop


def test_greedy_is_argmax():
    logits = torch.tensor([[0.1, 3.0, -1.0], [5.0, 4.9, 0.0]])
    assert sample_next(logits, 0.0, 0.95, None).tolist() == [1, 0]


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    # probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.7 keeps the first two, 0.81 the first three.
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(4000, 1)
    generator = torch.Generator().manual_seed(0)
    drawn = sample_next(logits, 1.0, 0.7, generator)
    assert set(drawn.tolist()) == {0, 1}
    assert (drawn == 0).float().mean().item() == pytest.approx(0.5 / 0.8, abs=0.03)
    drawn = sample_next(logits, 1.0, 0.81, generator)
    assert set(drawn.tolist()) == {0, 1, 2}
    # A tiny top_p degenerates to greedy; the best token is always kept.
    assert set(sample_next(logits, 1.0, 1e-6, generator).tolist()) == {0}


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([[2.0, 1.0, 0.0]]).repeat(6000, 1)
    generator = torch.Generator().manual_seed(1)
    cold = (sample_next(logits, 0.25, 1.0, generator) == 0).float().mean().item()
    hot = (sample_next(logits, 4.0, 1.0, generator) == 0).float().mean().item()
    expected_cold = torch.softmax(torch.tensor([2.0, 1.0, 0.0]) / 0.25, 0)[0].item()
    expected_hot = torch.softmax(torch.tensor([2.0, 1.0, 0.0]) / 4.0, 0)[0].item()
    assert cold == pytest.approx(expected_cold, abs=0.03)
    assert hot == pytest.approx(expected_hot, abs=0.03)


def test_sampling_is_reproducible_with_a_seed():
    logits = torch.randn(64, 100)
    first = sample_next(logits, 0.8, 0.95, torch.Generator().manual_seed(7))
    second = sample_next(logits, 0.8, 0.95, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    return x\n\ndef other():\n", ("    return x\n", True)),
        ("    return x\nprint(f(1))", ("    return x", True)),
        ("    return x", ("    return x", False)),
        ("    a\n#c\n\nclass B:", ("    a", True)),  # the earliest stop wins
    ],
)
def test_truncate_at_the_earliest_stop_sequence(text, expected):
    assert truncate_at_stop(text, ("\ndef ", "\nclass ", "\n#", "\nprint(")) == expected
