"""Normalised discounted cumulative gain at K, with binary gains."""

from __future__ import annotations

import numpy as np

from fedrec.metrics.base import RankMetric


class NDCG(RankMetric):
    """NDCG@K with binary relevance (gain 1 for a relevant item, 0 otherwise).

    ::

        DCG@K(u)  = sum_{r in R_u, r <= K} 1 / log2(r + 1)
        IDCG@K(u) = sum_{i = 1}^{min(|R_u|, K)} 1 / log2(i + 1)
        NDCG@K(u) = DCG@K(u) / IDCG@K(u)            (in [0, 1])
    """

    k: int  # always set: this metric has a cut-off
    name = "ndcg"

    def __init__(self, k: int = 10) -> None:
        super().__init__(k)

    def _user_value(self, ranks: np.ndarray) -> float:
        hits = ranks[ranks <= self.k]
        dcg = np.sum(1.0 / np.log2(hits + 1.0))
        ideal = np.arange(1, min(ranks.size, self.k) + 1)
        return float(dcg / np.sum(1.0 / np.log2(ideal + 1.0)))
