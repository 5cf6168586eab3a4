import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedrec.errors import ConfigError
from fedrec.metrics import UndefinedMetricWarning, evaluate_scores, rank_items, tie_break_keys

EMPTY = np.array([], dtype=np.int64)


def brute_force_order(scores, exclude, mask, user_id, seed=0):
    """Reference: sort candidates by (score desc, tie-break key desc) in Python."""
    keys = tie_break_keys(user_id, np.arange(scores.size), n_items=scores.size, rng_seed=seed)
    items = [i for i in range(scores.size) if mask[i] and i not in set(exclude)]
    return sorted(items, key=lambda i: (-scores[i], -int(keys[i])))


def test_hand_computed_topk_and_ranks():
    scores = np.array([[0.9, 0.1, 0.5, 0.7, 0.3], [0.2, 0.4, 0.6, 0.8, 1.0]])
    # user 0 excludes item 0: order 3 (.7), 2 (.5), 4 (.3), 1 (.1)
    # user 1 excludes 4 and 3: order 2 (.6), 1 (.4), 0 (.2)
    ranking = rank_items(
        scores,
        k=2,
        exclude=[np.array([0]), np.array([4, 3])],
        relevant=[np.array([1, 2]), np.array([0])],
    )
    np.testing.assert_array_equal(ranking.topk, [[3, 2], [2, 1]])
    np.testing.assert_array_equal(ranking.ranks[0], [4, 2])  # item 1 last of 4, item 2 second
    np.testing.assert_array_equal(ranking.ranks[1], [3])


def test_candidates_mask_and_index_array_agree():
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    # candidates {1, 3, 5} only: order 1, 3, 5 ; relevant item 5 has rank 3 (not 6)
    for cand in (np.array([5, 1, 3]), np.array([0, 1, 0, 1, 0, 1], dtype=bool)):
        ranking = rank_items(scores, k=2, candidates=cand, relevant=[np.array([5])])
        np.testing.assert_array_equal(ranking.topk, [[1, 3]])
        np.testing.assert_array_equal(ranking.ranks[0], [3])


def test_fewer_candidates_than_k_pads_with_minus_one():
    scores = np.array([[1.0, 2.0, 3.0, 4.0]])
    # candidates {0, 1, 2}, item 2 excluded: 1 then 0, then padding
    ranking = rank_items(scores, k=4, exclude=[np.array([2])], candidates=np.array([0, 1, 2]))
    np.testing.assert_array_equal(ranking.topk, [[1, 0, -1, -1]])


def test_k_larger_than_catalog():
    ranking = rank_items(np.array([[0.0, 2.0]]), k=3)
    np.testing.assert_array_equal(ranking.topk, [[1, 0, -1]])


def test_minus_inf_scores_still_rank_but_excluded_items_do_not():
    scores = np.array([[-np.inf, -np.inf, 1.0]])
    ranking = rank_items(scores, k=3, exclude=[np.array([1])], relevant=[np.array([0])])
    np.testing.assert_array_equal(ranking.topk, [[2, 0, -1]])
    np.testing.assert_array_equal(ranking.ranks[0], [2])


def test_integer_scores_are_accepted():
    ranking = rank_items(np.array([[1, 3, 2]]), k=2, relevant=[np.array([0])])
    np.testing.assert_array_equal(ranking.topk, [[1, 2]])
    np.testing.assert_array_equal(ranking.ranks[0], [3])


def test_errors():
    scores = np.zeros((1, 4))
    with pytest.raises(ConfigError, match="also excluded"):
        rank_items(scores, k=2, exclude=[np.array([1])], relevant=[np.array([1])])
    with pytest.raises(ConfigError, match="not candidates"):
        rank_items(scores, k=2, candidates=np.array([0, 2]), relevant=[np.array([1])])
    with pytest.raises(ConfigError, match="twice"):
        rank_items(scores, k=2, relevant=[np.array([1, 1])])
    with pytest.raises(ConfigError, match="NaN"):
        rank_items(np.array([[0.0, np.nan]]), k=1)
    with pytest.raises(ConfigError, match="outside"):
        rank_items(scores, k=1, exclude=[np.array([4])])
    with pytest.raises(ConfigError, match="one item array per user"):
        rank_items(scores, k=1, exclude=[EMPTY, EMPTY])
    with pytest.raises(ConfigError, match="empty"):
        rank_items(scores, k=1, candidates=np.zeros(4, dtype=bool))
    with pytest.raises(ConfigError, match="k must be"):
        rank_items(scores, k=0)


def test_constant_scorer_is_random_ranking():
    # 4000 users, N = 20 candidates, K = 5, one relevant item each.
    # Random ranking: P(hit) = K/N = 0.25 (sd of the mean ~ sqrt(.25*.75/4000) = 0.0068),
    # E[rank] = (N + 1)/2 = 10.5, and the top-1 item is uniform over the candidates.
    n_users, n_items, k = 4000, 20, 5
    relevant = [np.array([u % n_items]) for u in range(n_users)]  # low and high indices alike
    ranking = rank_items(np.zeros((n_users, n_items)), k=k, relevant=relevant)
    ranks = np.concatenate(ranking.ranks)
    assert abs(np.mean(ranks <= k) - k / n_items) < 0.03
    assert abs(ranks.mean() - (n_items + 1) / 2) < 0.4
    for item in (0, n_items - 1):  # no bias towards the first or last item index
        assert abs(np.mean(ranks[np.arange(n_users) % n_items == item] <= k) - 0.25) < 0.1
    first = np.bincount(ranking.topk[:, 0], minlength=n_items) / n_users
    assert np.all(np.abs(first - 1 / n_items) < 0.03)


def test_ties_only_reorder_tied_items():
    scores = np.array([[1.0, 3.0, 3.0, 3.0, 0.0]] * 50)
    ranking = rank_items(scores, k=3)
    assert all(set(row) == {1, 2, 3} for row in ranking.topk.tolist())
    assert len({tuple(row) for row in ranking.topk.tolist()}) > 1  # differs across users


def test_deterministic_given_seed_and_user_ids():
    scores = np.zeros((30, 12))
    a = rank_items(scores, k=4, rng_seed=7)
    b = rank_items(scores, k=4, rng_seed=7)
    c = rank_items(scores, k=4, rng_seed=8)
    np.testing.assert_array_equal(a.topk, b.topk)
    assert not np.array_equal(a.topk, c.topk)
    # a user's ranking depends on its id, not on its row or batch
    ids = np.arange(30)[::-1].copy()
    d = rank_items(scores, k=4, rng_seed=7, user_ids=ids)
    np.testing.assert_array_equal(d.topk[::-1], a.topk)


def test_chunking_gives_the_same_result():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(23, 15)).astype(float)  # many ties
    exclude = [rng.choice(15, size=3, replace=False) for _ in range(23)]
    relevant = [np.setdiff1d(rng.choice(15, size=4, replace=False), ex) for ex in exclude]
    whole = rank_items(scores, k=5, exclude=exclude, relevant=relevant, chunk_size=1024)
    chunked = rank_items(scores, k=5, exclude=exclude, relevant=relevant, chunk_size=2)
    np.testing.assert_array_equal(whole.topk, chunked.topk)
    for a, b in zip(whole.ranks, chunked.ranks, strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_users=st.integers(1, 6), n_items=st.integers(1, 12), k=st.integers(1, 8))
def test_matches_brute_force(data, n_users, n_items, k):
    scores = np.array(
        data.draw(
            st.lists(st.integers(-2, 2), min_size=n_users * n_items, max_size=n_users * n_items)
        ),
        dtype=float,
    ).reshape(n_users, n_items)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n_items, max_size=n_items)))
    if not mask.any():
        mask[0] = True
    items = st.lists(st.integers(0, n_items - 1), unique=True, max_size=n_items)
    exclude = [np.array(data.draw(items), dtype=np.int64) for _ in range(n_users)]
    relevant = [
        np.array([i for i in data.draw(items) if mask[i] and i not in ex], dtype=np.int64)
        for ex in exclude
    ]
    ranking = rank_items(
        scores, k=k, exclude=exclude, candidates=mask, relevant=relevant, chunk_size=2
    )
    for u in range(n_users):
        order = brute_force_order(scores[u], exclude[u], mask, u)
        expected_top = (order + [-1] * k)[:k]
        assert ranking.topk[u].tolist() == expected_top
        assert not set(ranking.topk[u].tolist()) & set(exclude[u].tolist())  # exclusions honoured
        assert set(ranking.topk[u].tolist()) - {-1} <= set(np.flatnonzero(mask).tolist())
        assert ranking.ranks[u].tolist() == [order.index(i) + 1 for i in relevant[u]]


# (levels, k): ties on most items, some ties, no ties, ~16 tied at the threshold with k=1
# (these reach each code path of the ranking core)
@pytest.mark.parametrize(("levels", "k"), [(2, 7), (60, 7), (10**9, 7), (10, 1)])
def test_matches_brute_force_at_larger_scale(levels, k):
    rng = np.random.default_rng(levels)
    n_users, n_items = 9, 200
    scores = rng.integers(0, levels, size=(n_users, n_items)).astype(float)
    mask = rng.random(n_items) < 0.8
    exclude = [rng.choice(n_items, 20, replace=False) for _ in range(n_users)]
    relevant = [
        np.array([i for i in rng.choice(n_items, 10, replace=False) if mask[i] and i not in ex])
        for ex in exclude
    ]
    ranking = rank_items(
        scores, k=k, exclude=exclude, candidates=mask, relevant=relevant, chunk_size=4
    )
    for u in range(n_users):
        order = brute_force_order(scores[u], exclude[u], mask, u)
        assert ranking.topk[u].tolist() == order[:k]
        assert ranking.ranks[u].tolist() == [order.index(i) + 1 for i in relevant[u]]


def test_tie_break_keys_unique_per_row():
    keys = tie_break_keys(np.arange(5)[:, None], np.arange(1000)[None, :], n_items=1000, rng_seed=3)
    assert keys.shape == (5, 1000)
    assert keys.dtype == np.uint64
    assert all(np.unique(row).size == 1000 for row in keys)
    assert keys.max() < 2**62
    # a pure function of (seed, user, item): computing pairs one by one gives the same keys
    assert tie_break_keys(3, 17, n_items=1000, rng_seed=3) == keys[3, 17]
    assert tie_break_keys(3, 17, n_items=1000, rng_seed=4) != keys[3, 17]


def test_tie_break_keys_errors():
    with pytest.raises(ConfigError, match="n_items"):
        tie_break_keys(0, 10, n_items=10)
    with pytest.raises(ConfigError, match="rng_seed"):
        tie_break_keys(0, 1, n_items=10, rng_seed=1.5)


# ---- evaluate_scores --------------------------------------------------------------

N_ITEMS = 6
COUNTS = np.array([5, 2, 1, 0, 0, 0])  # total 8; p_i = (c_i + 1) / 14
VECTORS = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, 1]], dtype=float)


def linear_scores(users):
    # every user scores item i as i: strict order 5 > 4 > 3 > 2 > 1 > 0
    return np.tile(np.arange(N_ITEMS, dtype=float), (len(users), 1))


def test_evaluate_hand_computed():
    users = np.array([10, 11])
    exclude = [np.array([5]), np.array([4])]
    relevant = [np.array([3, 0]), np.array([5])]
    result = evaluate_scores(
        linear_scores, users, relevant, exclude, k=2, item_vectors=VECTORS, item_counts=COUNTS
    )
    assert list(result) == [
        "hr@2", "recall@2", "ndcg@2", "ndcg@2_se", "mrr", "coverage@2", "diversity@2",
        "novelty@2", "users",
    ]  # fmt: skip
    # user 10: order 4, 3, 2, 1, 0 -> top2 (4, 3); relevant ranks 3 -> 2, 0 -> 5
    # user 11: order 5, 3, 2, 1, 0 -> top2 (5, 3); relevant 5 -> rank 1
    assert result["hr@2"] == 1.0
    assert result["recall@2"] == pytest.approx((1 / 2 + 1) / 2)
    ndcg_10 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert result["ndcg@2"] == pytest.approx((ndcg_10 + 1) / 2)
    # two values a, b: sample sd |a - b| / sqrt 2, over sqrt 2
    assert result["ndcg@2_se"] == pytest.approx((1 - ndcg_10) / 2)
    assert result["mrr"] == pytest.approx((1 / 2 + 1) / 2)
    assert result["coverage@2"] == pytest.approx(3 / 6)  # {3, 4, 5}
    # (4, 3): vectors (0,1), (1,0) -> 1 ; (5, 3): (1,1), (1,0) -> 1 - 1/sqrt 2
    assert result["diversity@2"] == pytest.approx((1 + 1 - 1 / math.sqrt(2)) / 2)
    # p_3 = p_4 = p_5 = 1/14: every item scores log2 14 bits
    assert result["novelty@2"] == pytest.approx(math.log2(14))
    assert result["users"] == 2


def test_evaluate_candidates_and_skipped_users():
    users = np.array([0, 1, 2])
    relevant = [np.array([1]), EMPTY, np.array([2])]
    exclude = [EMPTY, EMPTY, np.array([1])]
    with pytest.warns(UndefinedMetricWarning) as record:
        result = evaluate_scores(
            linear_scores, users, relevant, exclude,
            candidates=np.array([0, 1, 2]), k=1, item_counts=COUNTS,
        )  # fmt: skip
    messages = " ".join(str(w.message) for w in record)
    assert "1 user(s) have no relevant items" in messages
    assert "diversity@1" in messages
    # user 0: candidates order 2, 1, 0 -> top1 (2), item 1 rank 2 ; user 2: order 2, 0 -> rank 1
    assert result["users"] == 2
    assert result["hr@1"] == 0.5
    assert result["mrr"] == pytest.approx(0.75)
    assert result["ndcg@1_se"] == pytest.approx(0.5)  # NDCG 0 and 1
    assert result["coverage@1"] == pytest.approx(1 / 3)  # {2} of 3 candidates
    assert math.isnan(result["diversity@1"])


def test_evaluate_chunking_invariant():
    rng = np.random.default_rng(5)
    n_users, n_items = 57, 30
    table = rng.integers(0, 3, size=(n_users, n_items)).astype(float)
    exclude = [rng.choice(n_items, 4, replace=False) for _ in range(n_users)]
    relevant = [np.setdiff1d(rng.choice(n_items, 3, replace=False), e) for e in exclude]
    users = rng.permutation(n_users)
    kwargs = dict(k=5, item_vectors=rng.normal(size=(n_items, 4)), item_counts=np.ones(n_items))
    a = evaluate_scores(lambda u: table[u], users, relevant, exclude, chunk_size=1024, **kwargs)
    b = evaluate_scores(lambda u: table[u], users, relevant, exclude, chunk_size=4, **kwargs)
    assert a == pytest.approx(b)
    # the order in which users are given does not matter either (keys follow user ids)
    rev = slice(None, None, -1)
    c = evaluate_scores(lambda u: table[u], users[rev], relevant[rev], exclude[rev], **kwargs)
    assert a == pytest.approx(c)


def test_evaluate_no_users_is_nan():
    with pytest.warns(UndefinedMetricWarning):
        result = evaluate_scores(
            linear_scores, np.array([], dtype=int), [], [], k=3,
            item_vectors=VECTORS, item_counts=COUNTS,
        )  # fmt: skip
    assert result["users"] == 0
    assert all(math.isnan(v) for key, v in result.items() if key != "users")


def test_evaluate_bad_score_shape():
    with pytest.raises(ConfigError, match="score_fn returned shape"):
        evaluate_scores(
            lambda u: np.zeros((len(u), 3)), np.array([0]), [np.array([1])], [EMPTY],
            item_counts=COUNTS,
        )  # fmt: skip
