import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedrec.errors import ConfigError
from fedrec.metrics import HitRate, Recall, UndefinedMetricWarning


def test_label():
    assert HitRate(10).label == "hr@10"
    assert HitRate(k=5).label == "hr@5"


def test_hand_computed_per_user():
    hr = HitRate(3)
    assert hr.user_value(np.array([3])) == 1.0  # 3 <= 3
    assert hr.user_value(np.array([4])) == 0.0  # 4 > 3
    assert hr.user_value(np.array([7, 2])) == 1.0  # min rank 2 <= 3
    assert hr.user_value(np.array([5, 4])) == 0.0  # min rank 4 > 3


def test_mean_over_users():
    # users: [1] -> 1, [11] -> 0, [10, 12] -> 1 ; mean = 2/3
    assert HitRate(10)([np.array([1]), np.array([11]), np.array([10, 12])]) == pytest.approx(2 / 3)


def test_user_without_relevant_items_is_excluded_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="1 user"):
        value = HitRate(2)([np.array([1]), np.array([], dtype=np.int64), np.array([3])])
    assert value == pytest.approx(0.5)  # (1 + 0) / 2, the empty user is not a 0


def test_no_users_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(HitRate(5)([]))


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_cutoff(k):
    with pytest.raises(ConfigError, match="k must be"):
        HitRate(k)


def test_bad_ranks():
    with pytest.raises(ConfigError, match="1-based"):
        HitRate(1).user_value(np.array([0, 1]))
    with pytest.raises(ConfigError, match="1-D int"):
        HitRate(1).user_value(np.array([1.5]))


@given(
    ranks=st.lists(st.integers(1, 50), min_size=1, max_size=20, unique=True),
    k=st.integers(1, 30),
)
def test_hr_is_binary_and_at_least_recall(ranks, k):
    ranks = np.array(ranks)
    hr = HitRate(k).user_value(ranks)
    assert hr in (0.0, 1.0)
    assert hr >= Recall(k).user_value(ranks)
    if len(ranks) == 1:
        assert hr == Recall(k).user_value(ranks)
