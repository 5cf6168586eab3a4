"""Recall at K."""

from __future__ import annotations

import numpy as np

from fedrec.metrics.base import RankMetric


class Recall(RankMetric):
    """Recall@K: the share of a user's relevant items ranked within the top K.

    ::

        Recall@K(u) = |{r in R_u : r <= K}| / |R_u|

    The denominator is the number of relevant items, not ``min(|R_u|, K)``, so a
    user with more than K relevant items cannot reach 1.
    """

    k: int  # always set: this metric has a cut-off
    name = "recall"

    def __init__(self, k: int = 10) -> None:
        super().__init__(k)

    def _user_value(self, ranks: np.ndarray) -> float:
        return float(np.count_nonzero(ranks <= self.k) / ranks.size)
