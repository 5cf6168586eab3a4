"""The popularity histogram: one record moves it by at most 1, and its noise is private."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fedrec.privacy.histogram import noised, popularity_histogram
from fedrec.privacy.randomness import PrivateRandomness


def _train(rows):
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


def test_each_record_adds_its_items_at_unit_norm_by_hand():
    train = _train([(0, 0, 0), (0, 1, 10), (0, 1, 20), (1, 2, 0)])  # user 0: {0, 1}
    hist = popularity_histogram(train, 4, "user", 86_400)
    np.testing.assert_allclose(hist, [1 / np.sqrt(2), 1 / np.sqrt(2), 1.0, 0.0])


def test_one_record_more_moves_it_by_at_most_one():
    rng = np.random.default_rng(0)
    items, times = rng.integers(0, 20, (30, 8)), rng.integers(0, 10**6, (30, 8))
    base = _train(
        [(u, int(i), int(t)) for u in range(30) for i, t in zip(items[u], times[u], strict=True)]
    )
    full = popularity_histogram(base, 20, "user", 86_400)
    for user in (0, 7, 29):  # user level: a user more or less moves it by exactly 1
        without = popularity_histogram(base[base["user"] != user], 20, "user", 86_400)
        assert np.linalg.norm(full - without) == pytest.approx(1.0)
    full = popularity_histogram(base, 20, "interaction", 86_400)
    for row in (0, 5, 100):  # interaction level: one interaction more or less, at most 1
        fewer = base.drop(index=base.index[row])
        gap = full - popularity_histogram(fewer, 20, "interaction", 86_400)
        assert np.linalg.norm(gap) <= 1.0 + 1e-9


def test_the_noise_is_private_and_of_the_stated_size():
    hist = np.zeros(50_000)
    a = noised(hist, 2.0, PrivateRandomness(torch.device("cpu")))
    b = noised(hist, 2.0, PrivateRandomness(torch.device("cpu")))
    assert np.std(a) == pytest.approx(2.0, rel=0.03) and not np.array_equal(a, b)
