import math

import numpy as np
import pytest
import scipy.sparse as sp

from fedrec.baselines import ItemKNN
from fedrec.errors import ConfigError

# users x items. Item 0: users {0,1,2} (n=3), item 1: {0,2} (n=2), item 2: {1,2,3} (n=3)
TRAIN = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1]]))
# co-occurrences c01 = 2, c02 = 2, c12 = 1
S01 = 2 / math.sqrt(3 * 2)  # 0.8165
S02 = 2 / math.sqrt(3 * 3)  # 0.6667
S12 = 1 / math.sqrt(2 * 3)  # 0.4082


def test_hand_computed_cosine():
    sim = ItemKNN(k=100).fit(TRAIN).similarity
    assert sp.issparse(sim)
    np.testing.assert_allclose(
        sim.toarray(), [[0, S01, S02], [S01, 0, S12], [S02, S12, 0]], atol=1e-12
    )


def test_shrink():
    sim = ItemKNN(shrink=1.0).fit(TRAIN).similarity.toarray()
    assert sim[0, 1] == pytest.approx(2 / (math.sqrt(6) + 1))
    assert sim[1, 2] == pytest.approx(1 / (math.sqrt(6) + 1))


def test_pruning_keeps_top_k_per_target_item():
    sim = ItemKNN(k=1).fit(TRAIN).similarity.toarray()
    # column 0: neighbours 1 (S01) beats 2 (S02); column 1: 0 (S01) beats 2 (S12);
    # column 2: 0 (S02) beats 1 (S12)
    np.testing.assert_allclose(sim, [[0, S01, S02], [S01, 0, 0], [0, 0, 0]], atol=1e-12)
    assert (sim != 0).sum(axis=0).max() == 1


def test_pruning_ties_keep_lower_index():
    # items 1, 2 and 3 have identical similarity to item 0
    x = np.array([[1, 1, 1, 1], [1, 1, 1, 1]])
    sim = ItemKNN(k=2).fit(sp.csr_matrix(x)).similarity.toarray()
    np.testing.assert_array_equal(sim[:, 0] > 0, [False, True, True, False])


def test_scores_cold_user():
    model = ItemKNN(k=1).fit(TRAIN)
    # a new user who clicked items 0 and 1: history @ S with the pruned S above
    scores = model.score(sp.csr_matrix(np.array([[1, 1, 0]])))
    np.testing.assert_allclose(scores, [[S01, S01, S02]])
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float64


def test_unseen_item_has_no_neighbours():
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0]]))
    sim = ItemKNN().fit(x).similarity.toarray()
    np.testing.assert_array_equal(sim[2], 0)
    np.testing.assert_array_equal(sim[:, 2], 0)


@pytest.mark.parametrize(("k", "shrink"), [(0, 0.0), (2.5, 0.0), (10, -1.0)])
def test_bad_arguments(k, shrink):
    with pytest.raises(ConfigError):
        ItemKNN(k=k, shrink=shrink)
