"""Mean reciprocal rank (no cut-off)."""

from __future__ import annotations

import numpy as np

from fedrec.metrics.base import RankMetric


class MRR(RankMetric):
    """MRR: per user, the reciprocal rank of the best-ranked relevant item.

    ::

        RR(u) = 1 / min(R_u)

    There is no cut-off: the rank is taken in the full ranking of the candidates.
    """

    name = "mrr"

    def __init__(self) -> None:
        super().__init__(None)

    def _user_value(self, ranks: np.ndarray) -> float:
        return float(1.0 / ranks.min())
