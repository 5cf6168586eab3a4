import numpy as np
import pytest
import scipy.sparse as sp

from fedrec.baselines import Popularity
from fedrec.errors import ConfigError, ModelError

# 4 users x 3 items; item counts 3, 2, 3
TRAIN = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1]]))


def test_counts_and_scores():
    model = Popularity().fit(TRAIN)
    np.testing.assert_array_equal(model.counts, [3, 2, 3])
    scores = model.score(sp.csr_matrix((2, 3)))  # two users without history
    assert scores.shape == (2, 3)
    assert scores.dtype == np.float64
    np.testing.assert_array_equal(scores, [[3, 2, 3], [3, 2, 3]])


def test_non_binary_values_count_once():
    weighted = sp.csr_matrix(np.array([[5.0, 0.0], [2.0, 3.0]]))
    np.testing.assert_array_equal(Popularity().fit(weighted).counts, [2, 1])


def test_fit_does_not_modify_input():
    weighted = sp.csr_matrix(np.array([[5.0, 0.0]]))
    Popularity().fit(weighted)
    assert weighted.data.tolist() == [5.0]


def test_errors():
    with pytest.raises(ModelError, match="fit"):
        Popularity().score(TRAIN)
    with pytest.raises(ConfigError, match="item columns"):
        Popularity().fit(TRAIN).score(sp.csr_matrix((1, 4)))
    with pytest.raises(ConfigError, match=r"scipy\.sparse"):
        Popularity().fit(np.ones((2, 2)))
