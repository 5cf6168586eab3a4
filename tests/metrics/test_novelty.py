import math

import numpy as np
import pytest

from fedrec.errors import ConfigError
from fedrec.metrics import Novelty, UndefinedMetricWarning

# 4 items, training counts 5, 2, 1, 0: total = 8, smoothed p_i = (c_i + 1) / (8 + 4)
COUNTS = np.array([5, 2, 1, 0])


def test_label():
    assert Novelty(10, item_counts=COUNTS).label == "novelty@10"


def test_smoothed_self_information():
    info = Novelty(2, item_counts=COUNTS).self_information
    # p = 6/12, 3/12, 2/12, 1/12 -> -log2 p = 1, 2, log2 6, log2 12
    np.testing.assert_allclose(info, [1.0, 2.0, math.log2(6), math.log2(12)])


def test_hand_computed():
    topk = np.array([[0, 1], [2, 3]])
    # user 0: (1 + 2) / 2 = 1.5 ; user 1: (log2 6 + log2 12) / 2
    per_user = Novelty(2, item_counts=COUNTS).per_user(topk)
    np.testing.assert_allclose(per_user, [1.5, (math.log2(6) + math.log2(12)) / 2])
    expected = (1.5 + (math.log2(6) + math.log2(12)) / 2) / 2
    assert Novelty(2, item_counts=COUNTS)(topk) == pytest.approx(expected)


def test_padding_and_empty_lists():
    # user 0: only item 3 -> log2 12 ; user 1: no items -> undefined, excluded
    with pytest.warns(UndefinedMetricWarning, match="empty"):
        value = Novelty(2, item_counts=COUNTS)(np.array([[3, -1], [-1, -1]]))
    assert value == pytest.approx(math.log2(12))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(Novelty(2, item_counts=COUNTS)(np.empty((0, 2), dtype=np.int64)))


def test_bad_counts():
    with pytest.raises(ConfigError, match="item_counts"):
        Novelty(2, item_counts=np.array([1, -1]))
    with pytest.raises(ConfigError, match="item_counts"):
        Novelty(2, item_counts=np.array([]))
    with pytest.raises(ConfigError, match="no entry"):
        Novelty(1, item_counts=COUNTS)(np.array([[4]]))
