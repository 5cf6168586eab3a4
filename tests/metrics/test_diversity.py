import math

import numpy as np
import pytest

from fedrec.metrics import IntraListDiversity, UndefinedMetricWarning

# item 0 = e1, item 1 = e2, item 2 = e1 + e2, item 3 = 2 * e1, item 4 = zero vector
VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])


def test_label():
    assert IntraListDiversity(10, item_vectors=VECTORS).label == "diversity@10"


def test_hand_computed_pairs():
    ild = IntraListDiversity(2, item_vectors=VECTORS)
    # orthogonal: 1 - 0 = 1 ; parallel (0, 3): 1 - 1 = 0 ; (0, 2): 1 - 1/sqrt(2)
    values = ild.per_user(np.array([[0, 1], [0, 3], [0, 2]]))
    np.testing.assert_allclose(values, [1.0, 0.0, 1 - 1 / math.sqrt(2)])
    # mean over users = (1 + 0 + 1 - 1/sqrt 2) / 3
    assert ild(np.array([[0, 1], [0, 3], [0, 2]])) == pytest.approx((2 - 1 / math.sqrt(2)) / 3)


def test_hand_computed_three_items():
    # list (0, 1, 2): pairs (0,1): 1, (0,2): 1 - 1/sqrt2, (1,2): 1 - 1/sqrt2 ; mean of 3 pairs
    expected = (1 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert IntraListDiversity(3, item_vectors=VECTORS)(np.array([[0, 1, 2]])) == pytest.approx(
        expected
    )


def test_zero_vector_has_cosine_zero():
    assert IntraListDiversity(2, item_vectors=VECTORS)(np.array([[4, 0]])) == pytest.approx(1.0)


def test_only_first_k_columns_used():
    # K=2 on lists of 3: only (0, 3) -> 0
    assert IntraListDiversity(2, item_vectors=VECTORS)(np.array([[0, 3, 1]])) == 0.0


def test_k_below_two_is_nan():
    with pytest.warns(UndefinedMetricWarning, match="K >= 2"):
        assert math.isnan(IntraListDiversity(1, item_vectors=VECTORS)(np.array([[0], [1]])))


def test_short_list_is_excluded_with_warning():
    # second list is padded to one item: undefined, so the mean is the first user's 1.0
    with pytest.warns(UndefinedMetricWarning, match="fewer than 2"):
        value = IntraListDiversity(2, item_vectors=VECTORS)(np.array([[0, 1], [2, -1]]))
    assert value == pytest.approx(1.0)


def test_padded_list_of_three_uses_valid_pairs():
    # list (0, 1, -1): only pair (0, 1) -> 1
    assert IntraListDiversity(3, item_vectors=VECTORS)(np.array([[0, 1, -1]])) == pytest.approx(1)


def test_chunking_does_not_change_values():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8))
    topk = np.stack([rng.permutation(50)[:5] for _ in range(37)])
    whole = IntraListDiversity(5, item_vectors=vectors).per_user(topk)
    chunked = IntraListDiversity(5, item_vectors=vectors, chunk_size=4).per_user(topk)
    np.testing.assert_allclose(whole, chunked)
    assert np.all((whole >= 0) & (whole <= 2))
