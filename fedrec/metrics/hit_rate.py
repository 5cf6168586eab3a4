"""Hit rate at K."""

from __future__ import annotations

import numpy as np

from fedrec.metrics.base import RankMetric


class HitRate(RankMetric):
    """HR@K: per user, 1 if any relevant item is ranked within the top K, else 0.

    ::

        HR@K(u) = 1  if min(R_u) <= K  else 0

    where ``R_u`` holds the 1-based ranks of user ``u``'s relevant items.
    """

    k: int  # always set: this metric has a cut-off
    name = "hr"

    def __init__(self, k: int = 10) -> None:
        super().__init__(k)

    def _user_value(self, ranks: np.ndarray) -> float:
        return float(ranks.min() <= self.k)
