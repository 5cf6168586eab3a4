"""Zero-shot: cosine similarity of the frozen text vectors, by hand."""

from __future__ import annotations

import numpy as np

from fedrec.baselines.zero_shot import ZeroShot


def test_a_user_is_the_mean_of_its_history_and_its_profile():
    items = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    profiles = np.array([[0.0, 2.0], [0.0, 0.0]])  # user 1 has none
    zs = ZeroShot(items, profiles)
    # User 1, history [item 0]: the query is (1, 0); cosine with each item.
    np.testing.assert_allclose(
        zs.score_histories(np.array([1]), [np.array([0])]), [[1.0, 0.0, np.sqrt(0.5)]]
    )
    # User 0, history [item 0] plus profile (0, 1): the query is (1, 1)/√2.
    np.testing.assert_allclose(
        zs.score_histories(np.array([0]), [np.array([0])]),
        [[np.sqrt(0.5), np.sqrt(0.5), 1.0]],
        rtol=1e-6,
    )


def test_nothing_known_scores_zero_everywhere():
    zs = ZeroShot(np.eye(3))
    np.testing.assert_array_equal(
        zs.score_histories(np.array([0]), [np.array([], dtype=np.int64)]), np.zeros((1, 3))
    )
