import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedrec.metrics import Recall, UndefinedMetricWarning


def test_label():
    assert Recall(20).label == "recall@20"


def test_hand_computed():
    r = Recall(5)
    assert r.user_value(np.array([1, 5, 6, 9])) == pytest.approx(2 / 4)  # ranks 1, 5 <= 5
    assert r.user_value(np.array([6])) == 0.0
    assert r.user_value(np.array([2, 3])) == 1.0
    # denominator is |R_u| even above K: 7 relevant all at ranks 1..7, K=5 -> 5/7
    assert r.user_value(np.arange(1, 8)) == pytest.approx(5 / 7)


def test_mean_over_users():
    # user a: 1/2, user b: 1/1, user c: 0/3 -> (0.5 + 1 + 0) / 3 = 0.5
    users = [np.array([2, 9]), np.array([1]), np.array([6, 7, 8])]
    assert Recall(5)(users) == pytest.approx(0.5)


def test_undefined_cases():
    with pytest.warns(UndefinedMetricWarning):
        assert Recall(5)([np.array([1]), np.array([], dtype=int)]) == 1.0
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(Recall(5)([np.array([], dtype=int)]))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(Recall(5)([]))


@given(
    ranks=st.lists(st.integers(1, 100), min_size=1, max_size=30, unique=True),
    k=st.integers(1, 50),
)
def test_recall_in_unit_interval_and_monotone_in_k(ranks, k):
    ranks = np.array(ranks)
    value = Recall(k).user_value(ranks)
    assert 0.0 <= value <= 1.0
    assert Recall(k + 1).user_value(ranks) >= value
