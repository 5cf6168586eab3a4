"""Top-k search: exact by hand, approximate measured against exact."""

import numpy as np
import pytest

from fedrec.serving.index import ExactIndex, HnswIndex, make_index, top_indices


def test_top_indices_by_hand():
    scores = np.array([0.5, 2.0, -1.0, 2.0, 1.0])
    assert top_indices(scores, 3, None).tolist() == [1, 3, 4]  # ties by index
    allowed = np.array([True, False, True, True, True])
    assert top_indices(scores, 3, allowed).tolist() == [3, 4, 0]
    assert top_indices(scores, 10, allowed).tolist() == [3, 4, 0, 2]
    assert top_indices(scores, 2, np.zeros(5, dtype=bool)).tolist() == []


def test_exact_scores_are_the_formula():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    index = ExactIndex(vectors, np.array([0.0, 1.0, -0.5]), temperature=0.5)
    user = np.array([0.8, 0.6], dtype=np.float32)
    # 0.8/0.5 = 1.6; 0.6/0.5 + 1 = 2.2; (0.48 + 0.48)/0.5 - 0.5 = 1.42
    np.testing.assert_allclose(index.scores(user), [1.6, 2.2, 1.42], rtol=1e-6)
    assert index.top(user, 2, None).tolist() == [1, 0]
    index.add(np.array([[0.8, 0.6]], dtype=np.float32))  # a new item, offset 0: 2.0
    assert index.top(user, 2, None).tolist() == [1, 3]


def _unit(n, d, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("spread", [0.1, 5.0])
def test_hnsw_recall_against_exact(spread):
    pytest.importorskip("faiss")
    vectors = _unit(3000, 32, 0)
    # spread 5: the learned popularity decides much of the ranking, as in a trained model
    offsets = np.random.default_rng(1).normal(scale=spread, size=3000).astype(np.float32)
    exact = ExactIndex(vectors, offsets, 0.1)
    approx = make_index("hnsw", vectors, offsets, 0.1)
    users = _unit(50, 32, 2)
    hits = [len(set(exact.top(u, 10, None)) & set(approx.top(u, 10, None))) for u in users]
    assert np.mean(hits) / 10 >= 0.9
    # what it returns is scored exactly: the same order as exact on its own candidates
    got = approx.top(users[0], 10, None)
    assert np.all(np.diff(exact.scores(users[0])[got]) <= 0)


def test_hnsw_with_a_narrow_filter_falls_back_to_exact():
    pytest.importorskip("faiss")
    vectors = _unit(500, 16, 3)
    offsets = np.zeros(500, dtype=np.float32)
    approx = HnswIndex(vectors, offsets, 0.1)
    allowed = np.zeros(500, dtype=bool)
    allowed[[7, 99, 250]] = True
    user = _unit(1, 16, 4)[0]
    assert (
        approx.top(user, 3, allowed).tolist()
        == ExactIndex(vectors, offsets, 0.1).top(user, 3, allowed).tolist()
    )


def test_an_unknown_index_is_named():
    with pytest.raises(Exception, match="exact"):
        make_index("lsh", _unit(3, 2, 0), np.zeros(3), 0.1)


def test_hnsw_finds_trained_items_among_many_added_ones():
    """A trained catalog (learned popularity) grown by text-only items (no offset), as
    ``POST /items`` grows it: the best items for most users are the trained ones."""
    pytest.importorskip("faiss")
    trained = _unit(300, 32, 5)
    offsets = np.random.default_rng(6).normal(1.0, 1.0, size=300).astype(np.float32)
    exact = ExactIndex(trained, offsets, 0.1)
    approx = make_index("hnsw", trained, offsets, 0.1)
    for seed in (7, 8):
        added = _unit(3000, 32, seed)
        exact.add(added)
        approx.add(added)
    users = _unit(100, 32, 9)
    recall = [len(set(exact.top(u, 10, None)) & set(approx.top(u, 10, None))) / 10 for u in users]
    assert np.mean(recall) >= 0.95 and min(recall) >= 0.5
    added_best = [u for u in users if exact.top(u, 1, None)[0] >= 300]
    assert added_best, "the fixture should let some users prefer an added item"
    # a filter keeping 30% of the items (a scenario, say) across both groups
    allowed = np.random.default_rng(10).random(len(exact)) < 0.3
    recall = [
        len(set(exact.top(u, 10, allowed)) & set(approx.top(u, 10, allowed))) / 10 for u in users
    ]
    assert np.mean(recall) >= 0.95 and min(recall) >= 0.5
    assert all(allowed[approx.top(u, 10, allowed)].all() for u in users[:10])
