"""The Feistel permutation behind the global sample order: a bijection for any n and key."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tritter.loader.permutation import FeistelPermutation


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 5000), seed=st.integers(0, 2**32 - 1), epoch=st.integers(0, 1000))
def test_is_a_permutation_of_range_n(n, seed, epoch):
    perm = FeistelPermutation(n, seed, epoch)
    image = perm(np.arange(n))
    assert np.array_equal(np.sort(image), np.arange(n))
    assert np.array_equal(perm(np.arange(n)), image)  # computed, not stored: same every time
    single = [int(perm(i)) for i in (0, n - 1)]
    assert single == [int(image[0]), int(image[-1])]


def test_keys_change_the_order_and_large_n_is_cheap():
    n = 10_000
    a = FeistelPermutation(n, 0, 0)(np.arange(n))
    assert not np.array_equal(a, FeistelPermutation(n, 0, 1)(np.arange(n)))
    assert not np.array_equal(a, FeistelPermutation(n, 1, 0)(np.arange(n)))
    # a trillion-sample epoch: any index maps in O(1) without materializing the permutation
    huge = FeistelPermutation(10**12, 7, 3)
    out = huge(np.array([0, 1, 10**12 - 1]))
    assert len(set(out.tolist())) == 3 and (out < 10**12).all()
    with pytest.raises(IndexError):
        huge(np.array([10**12]))
