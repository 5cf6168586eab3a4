import numpy as np
import pytest
import scipy.sparse as sp

from fedrec.baselines import EASE
from fedrec.errors import ConfigError


def test_hand_solved_two_items():
    # X = [[1, 1], [0, 1]] -> X^T X = [[1, 1], [1, 2]]; + l2 I (l2 = 1) = [[2, 1], [1, 3]]
    # P = (1/5) [[3, -1], [-1, 2]] ; B_01 = -P_01 / P_11 = (1/5) / (2/5) = 1/2,
    # B_10 = -P_10 / P_00 = (1/5) / (3/5) = 1/3  (= ridge regression of one item on the other:
    # B_01 = G_01 / G_00 = 1/2 and B_10 = G_10 / G_11 = 1/3)
    model = EASE(l2=1.0).fit(sp.csr_matrix(np.array([[1, 1], [0, 1]])))
    np.testing.assert_allclose(model.weights, [[0.0, 0.5], [1 / 3, 0.0]])
    # a cold user who clicked item 0 only: scores = [1, 0] @ B = [0, 1/2]
    np.testing.assert_allclose(model.score(sp.csr_matrix(np.array([[1, 0]]))), [[0.0, 0.5]])


def test_matches_direct_formula_and_zero_diagonal():
    rng = np.random.default_rng(0)
    x = (rng.random((12, 5)) < 0.4).astype(float)
    l2 = 3.0
    p = np.linalg.inv(x.T @ x + l2 * np.eye(5))
    expected = np.eye(5) - p / np.diag(p)  # B = I - P diag(P)^-1
    model = EASE(l2=l2).fit(sp.csr_matrix(x))
    np.testing.assert_allclose(model.weights, expected, atol=1e-12)
    np.testing.assert_array_equal(np.diag(model.weights), 0.0)
    history = sp.csr_matrix(x[:3])
    np.testing.assert_allclose(model.score(history), x[:3] @ expected, atol=1e-12)


def test_bad_l2():
    for bad in (0.0, -1.0, "500"):
        with pytest.raises(ConfigError, match="l2"):
            EASE(l2=bad)


def test_refuses_huge_catalog_with_a_hint():
    with pytest.raises(ConfigError, match="ItemKNN"):
        EASE().fit(sp.csr_matrix((1, 20_001)))
