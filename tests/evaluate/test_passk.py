from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tritter.evaluate.execution import SampleResult, score
from tritter.evaluate.passk import mean_pass_at_k, pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    """Fraction of k-subsets of n samples (c correct) that contain a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)


@given(st.integers(1, 9).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n),
                                                     st.integers(1, n))))  # fmt: skip
def test_matches_enumeration_of_subsets(case):
    n, c, k = case
    assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


def test_known_values_and_closed_form():
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(200, 10, 100) == pytest.approx(1 - math.comb(190, 100) / math.comb(200, 100))
    assert pass_at_k(200, 150, 100) == 1.0  # n - c < k
    assert mean_pass_at_k([(10, 3), (10, 0)], 1) == pytest.approx(0.15)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 6), (5, 2, 0)])
def test_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_score_reports_only_the_k_the_samples_support():
    results = [
        SampleResult(task, i, "", "passed" if (task == "a" and i < 2) else "failed", "", 0.0)
        for task in ("a", "b")
        for i in range(5)
    ]
    metrics = score(results, [1, 5, 10])
    assert metrics["problems"] == 2 and metrics["samples_per_problem"] == 5
    assert metrics["pass@1"] == pytest.approx((2 / 5 + 0) / 2)
    assert metrics["pass@5"] == pytest.approx(0.5)
    assert "pass@10" not in metrics
    assert metrics["status"] == {"failed": 8, "passed": 2}
    assert metrics["solved_problems"] == 1
