"""MMR re-ranking: hand-checked picks, the plain ranking at diversity 0, clear errors."""

import numpy as np
import pytest

from fedrec.errors import ConfigError
from fedrec.evaluation.harness import reranked_scorer
from fedrec.evaluation.rerank import mmr, pool_size, reranked_top

# Items 0 and 1 point the same way; 2 is orthogonal to them; 3 is opposite to 0.
VECTORS = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [-1.0, 0.0]])
SCORES = np.array([[4.0, 3.9, 2.0, 0.0]])


def test_diversity_zero_is_the_ranking_by_score():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(6, 40))
    vectors = rng.normal(size=(40, 5))
    top = mmr(scores, vectors, 10, 0.0)
    assert np.array_equal(top, np.argsort(-scores, axis=1)[:, :10])


def test_hand_computed_picks():
    # rel scaled to [0, 1]: [1, 0.975, 0.5, 0]; the first pick is item 0. With λ = 0.5 the
    # gains are then item 1: 0.5*0.975 - 0.5*cos(v1, v0)(≈1) = -0.0125; item 2: 0.25 - 0;
    # item 3: 0 - 0.5*(-1) = 0.5: item 3. Then item 2 (0.25) beats item 1 (-0.0125).
    assert mmr(SCORES, VECTORS, 3, 0.5).tolist() == [[0, 3, 2]]
    assert mmr(SCORES, VECTORS, 3, 0.0).tolist() == [[0, 1, 2]]
    # λ = 0.1: item 1 loses 0.1 for its likeness, still ahead of item 2 (0.8775 - 0.1 vs 0.45).
    assert mmr(SCORES, VECTORS, 2, 0.1).tolist() == [[0, 1]]


def test_excluded_candidates_and_short_rows_pad_with_minus_one():
    scores = SCORES.copy()
    scores[0, 1] = -np.inf
    assert mmr(scores, VECTORS, 5, 0.3).tolist()[0][3:] == [-1, -1]
    assert 1 not in mmr(scores, VECTORS, 5, 0.3)[0]


def test_bad_diversity_is_refused():
    with pytest.raises(ConfigError, match=r"diversity=1.5: use a weight in \[0, 1\]"):
        mmr(SCORES, VECTORS, 2, 1.5)


def test_reranked_top_chooses_from_a_pool_and_returns_item_ids():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(3, 500))
    vectors = rng.normal(size=(500, 8))
    assert pool_size(10, 500) == 50 and pool_size(10, 20) == 20
    top = reranked_top(scores, vectors, 10, 0.0)
    assert np.array_equal(top, np.argsort(-scores, axis=1)[:, :10])
    best = np.argsort(-scores, axis=1)[:, :50]
    diverse = reranked_top(scores, vectors, 10, 0.7)
    assert all(set(row) <= set(pool) for row, pool in zip(diverse, best, strict=True))
    assert not np.array_equal(diverse, top)


def test_reranked_scorer_puts_the_list_first_and_skips_history():
    def scorer(users, histories):
        return np.tile(SCORES, (len(users), 1))

    rescored = reranked_scorer(scorer, VECTORS, 2, 0.5)(np.array([0, 1]), [[], [0]])
    assert np.argsort(-rescored[0])[:2].tolist() == [0, 3]
    # user 1 has seen item 0: its list is MMR over items 1-3 (rel [1, 0.513, 0]): item 1,
    # then item 3 (0 - 0.5*cos(v3, v1) = 0.5, cos ≈ -1) over item 2 (0.256 - 0.5*0.01)
    assert np.argsort(-rescored[1])[:2].tolist() == [1, 3]
    assert rescored[1, 0] == SCORES[0, 0]  # history keeps its score (the evaluator masks it)


def test_nothing_to_rank_gives_an_empty_list():
    assert mmr(np.zeros((2, 0)), np.zeros((0, 2)), 3, 0.5).tolist() == [[-1] * 3] * 2
    assert reranked_top(np.zeros((1, 0)), np.zeros((0, 2)), 3, 0.5).tolist() == [[-1] * 3]
    assert mmr(np.full((1, 4), -np.inf), VECTORS, 2, 0.5).tolist() == [[-1, -1]]


def test_ties_are_broken_by_index_as_in_the_plain_ranking():
    scores = np.zeros((1, 80))
    vectors = np.random.default_rng(0).normal(size=(80, 4))
    assert reranked_top(scores, vectors, 5, 0.0).tolist() == [[0, 1, 2, 3, 4]]
