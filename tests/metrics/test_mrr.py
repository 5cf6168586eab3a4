import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedrec.metrics import MRR, UndefinedMetricWarning


def test_label_has_no_cutoff():
    assert MRR().label == "mrr"
    assert MRR().k is None


def test_hand_computed():
    assert MRR().user_value(np.array([4])) == 0.25
    assert MRR().user_value(np.array([9, 3, 5])) == pytest.approx(1 / 3)  # best rank 3
    assert MRR().user_value(np.array([1000])) == pytest.approx(0.001)  # no cut-off
    # users: 1/1, 1/2, 1/4 -> (1 + 0.5 + 0.25) / 3 = 7/12
    assert MRR()([np.array([1]), np.array([2]), np.array([4, 8])]) == pytest.approx(7 / 12)


def test_undefined():
    with pytest.warns(UndefinedMetricWarning):
        assert MRR()([np.array([], dtype=int), np.array([2])]) == 0.5
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(MRR()([]))


@given(ranks=st.lists(st.integers(1, 1000), min_size=1, max_size=20, unique=True))
def test_in_unit_interval(ranks):
    assert 0.0 < MRR().user_value(np.array(ranks)) <= 1.0
