"""Scenario popularity: each scenario's popularity, weighted by the user's history in it."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fedrec.baselines.base import Recommender
from fedrec.errors import ConfigError


class ScenarioPopularity(Recommender):
    """Each scenario's popularity, weighted by the share of the user's history in it.

    ::

        score(u, i) = P(s_i | u) * count_i / N(s_i)
        P(s | u)    = (h(u, s) + P(s)) / (|h(u)| + 1),    P(s) = N(s) / N

    with ``count_i`` item i's training users, ``N(s)`` the sum of the counts of
    scenario s's items, ``N`` of all items, and ``h(u, s)`` how many items of u's
    history are in s (the overall scenario shares are a prior worth one item). A
    user with no history gets popularity; ranked among one scenario's items, any
    user gets that scenario's popularity. ``item_scenario`` ([n_items] ints) is
    each item's scenario in the public catalog.
    """

    counts: np.ndarray  # [n_items] float64: count_i
    within: np.ndarray  # [n_items] float64: count_i / N(s_i)
    share: np.ndarray  # [n_scenarios] float64: P(s)
    item_scenario: np.ndarray  # [n_items] int64
    in_scenario: sp.csr_matrix  # [n_items, n_scenarios] one-hot of item_scenario

    def __init__(self, item_scenario: np.ndarray) -> None:
        scenario = np.asarray(item_scenario)
        if (
            scenario.ndim != 1
            or not np.issubdtype(scenario.dtype, np.integer)
            or (scenario.size and scenario.min() < 0)
        ):
            raise ConfigError(
                "item_scenario must be a 1-D array of scenario indices >= 0, one per item"
            )
        self.item_scenario = scenario.astype(np.int64)
        n_items, n_scenarios = scenario.size, int(scenario.max()) + 1 if scenario.size else 0
        self.in_scenario = sp.csr_matrix(
            (np.ones(n_items), (np.arange(n_items), self.item_scenario)),
            shape=(n_items, n_scenarios),
        )

    def _fit(self, train: sp.csr_matrix) -> None:
        if train.shape[1] != self.item_scenario.size:
            raise ConfigError(
                f"train has {train.shape[1]} item columns but item_scenario names "
                f"{self.item_scenario.size} items; use the same item index"
            )
        self.counts = np.asarray(train.sum(axis=0), dtype=np.float64).ravel()
        per_scenario = np.asarray(self.in_scenario.T @ self.counts, dtype=np.float64)
        self.within = self.counts / np.maximum(per_scenario[self.item_scenario], 1.0)
        self.share = per_scenario / max(per_scenario.sum(), 1.0)

    def _score(self, history: sp.csr_matrix) -> np.ndarray:
        seen = np.asarray((history @ self.in_scenario).todense(), dtype=np.float64)  # [B, S]
        taste = (seen + self.share) / (seen.sum(axis=1, keepdims=True) + 1.0)
        return taste[:, self.item_scenario] * self.within
