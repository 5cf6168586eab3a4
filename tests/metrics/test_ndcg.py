import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedrec.metrics import NDCG, UndefinedMetricWarning


def test_label():
    assert NDCG(10).label == "ndcg@10"


def test_perfect_and_zero():
    assert NDCG(3).user_value(np.array([1])) == pytest.approx(1.0)
    assert NDCG(3).user_value(np.array([1, 2])) == pytest.approx(1.0)
    assert NDCG(3).user_value(np.array([4, 5])) == 0.0


def test_hand_computed_two_relevant():
    # ranks [2, 5], K=3, 2 relevant: DCG = 1/log2(3) (rank 5 is cut off),
    # IDCG = 1/log2(2) + 1/log2(3) = 1 + 1/log2(3)
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert NDCG(3).user_value(np.array([2, 5])) == pytest.approx(expected)
    assert expected == pytest.approx(0.38685280723454163)


def test_hand_computed_single_relevant():
    # one relevant at rank 4, K=10: DCG = 1/log2(5), IDCG = 1/log2(2) = 1
    assert NDCG(10).user_value(np.array([4])) == pytest.approx(1 / math.log2(5))


def test_ideal_is_capped_at_k():
    # 3 relevant at ranks 1, 2, 9 with K=2: DCG = 1 + 1/log2(3), IDCG over min(3, 2) = 2
    # positions = 1 + 1/log2(3), so NDCG = 1 even though one relevant item is missed.
    assert NDCG(2).user_value(np.array([9, 1, 2])) == pytest.approx(1.0)


def test_mean_and_undefined():
    # (1 + 1/log2(5)) / 2, the empty user excluded
    with pytest.warns(UndefinedMetricWarning):
        value = NDCG(10)([np.array([1]), np.array([4]), np.array([], dtype=int)])
    assert value == pytest.approx((1 + 1 / math.log2(5)) / 2)
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(NDCG(10)([]))


@given(
    ranks=st.lists(st.integers(1, 200), min_size=1, max_size=40, unique=True),
    k=st.integers(1, 60),
)
def test_ndcg_in_unit_interval(ranks, k):
    value = NDCG(k).user_value(np.array(ranks))
    assert 0.0 <= value <= 1.0 + 1e-12


@given(n=st.integers(1, 20), k=st.integers(1, 20))
def test_top_ranked_relevant_is_perfect(n, k):
    # relevant items exactly at ranks 1..n: DCG@K == IDCG@K
    assert NDCG(k).user_value(np.arange(1, n + 1)) == pytest.approx(1.0)
