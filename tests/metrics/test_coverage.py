import math

import numpy as np
import pytest

from fedrec.errors import ConfigError
from fedrec.metrics import Coverage, UndefinedMetricWarning


def test_label():
    assert Coverage(10, n_candidates=5).label == "coverage@10"


def test_hand_computed():
    topk = np.array([[0, 1, 2], [2, 1, 5], [0, 5, 7]])
    # K=2: union of {0,1}, {2,1}, {0,5} = {0,1,2,5} -> 4 / 10
    assert Coverage(2, n_candidates=10)(topk) == pytest.approx(0.4)
    # K=3: union adds 7 -> {0,1,2,5,7} = 5 / 10
    assert Coverage(3, n_candidates=10)(topk) == pytest.approx(0.5)


def test_padding_is_ignored():
    # -1 pads short lists: distinct real items {3, 4} over 4 candidates
    topk = np.array([[3, -1], [4, 3]])
    assert Coverage(2, n_candidates=4)(topk) == pytest.approx(0.5)


def test_no_users_is_nan():
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(Coverage(3, n_candidates=10)(np.empty((0, 3), dtype=np.int64)))


def test_errors():
    with pytest.raises(ConfigError, match="n_candidates"):
        Coverage(3, n_candidates=0)
    with pytest.raises(ConfigError, match="top-3"):
        Coverage(3, n_candidates=10)(np.array([[1, 2]]))
    with pytest.raises(ConfigError, match="candidates"):
        Coverage(2, n_candidates=2)(np.array([[0, 1], [2, 3]]))
