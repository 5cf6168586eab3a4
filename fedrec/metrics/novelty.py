"""Popularity-based novelty at K."""

from __future__ import annotations

import numpy as np

from fedrec.errors import ConfigError
from fedrec.metrics.base import ListMetric, mean_or_nan, warn_undefined


class Novelty(ListMetric):
    """Novelty@K: mean over users of the mean self-information of their top-K items.

    ::

        p_i        = (count_i + 1) / (total + n_items)      (add-one smoothing)
        Nov@K(u)   = mean_{i in TopK(u)} -log2(p_i)
        Novelty@K  = mean_u Nov@K(u)

    ``count_i`` is item ``i``'s number of training interactions and ``total``
    their sum. Add-one (Laplace) smoothing keeps ``p_i > 0`` for items never seen
    in training, so an unseen item scores ``log2(total + n_items)`` bits rather
    than infinity, and the ``p_i`` still sum to 1. A list with no items
    (all ``-1``) is undefined (NaN, warning).
    """

    name = "novelty"

    def __init__(self, k: int = 10, *, item_counts: np.ndarray) -> None:
        super().__init__(k)
        counts = np.asarray(item_counts, dtype=np.float64)
        if (
            counts.ndim != 1
            or counts.size == 0
            or np.any(counts < 0)
            or not np.all(np.isfinite(counts))
        ):
            raise ConfigError("item_counts must be a non-empty 1-D array of counts >= 0 per item")
        self.self_information = -np.log2((counts + 1.0) / (counts.sum() + counts.size))  # [n_items]

    def per_user(self, topk: np.ndarray) -> np.ndarray:
        """``[n_users]`` float64 values, NaN (with one warning) for empty lists."""
        top = self.top(topk)
        if top.size and top.max() >= self.self_information.size:
            raise ConfigError(f"{self.label}: item {top.max()} has no entry in item_counts")
        valid = top >= 0
        bits = np.where(valid, self.self_information[np.where(valid, top, 0)], 0.0)  # [n_users, K]
        n = valid.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(n > 0, bits.sum(axis=1) / n, np.nan)
        if np.any(n == 0):
            warn_undefined(self.label, f"{int(np.sum(n == 0))} list(s) are empty; excluded")
        return out

    def __call__(self, topk: np.ndarray) -> float:
        return mean_or_nan(self.label, self.per_user(topk))
