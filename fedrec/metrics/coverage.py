"""Catalog coverage at K."""

from __future__ import annotations

import numpy as np

from fedrec.errors import ConfigError
from fedrec.metrics.base import ListMetric, warn_undefined


class Coverage(ListMetric):
    """Coverage@K: the share of the candidate items that appear in at least one top-K list.

    ::

        Coverage@K = |union_u TopK(u)| / n_candidates

    It is one value for the whole set of users (not a per-user mean). Padding
    entries (``-1``, lists shorter than K) are ignored. No users gives NaN.
    """

    name = "coverage"

    def __init__(self, k: int = 10, *, n_candidates: int) -> None:
        super().__init__(k)
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, (int, np.integer)):
            raise ConfigError(f"n_candidates must be an int, got {n_candidates!r}")
        if n_candidates < 1:
            raise ConfigError(
                f"n_candidates must be >= 1 (the coverage denominator), got {n_candidates}"
            )
        self.n_candidates = int(n_candidates)

    def __call__(self, topk: np.ndarray) -> float:
        top = self.top(topk)
        if top.shape[0] == 0:
            warn_undefined(self.label, "no users")
            return float("nan")
        distinct = np.unique(top[top >= 0])
        if distinct.size > self.n_candidates:
            raise ConfigError(
                f"{self.label}: {distinct.size} distinct items recommended but only "
                f"{self.n_candidates} candidates; pass the number of candidate items"
            )
        return distinct.size / self.n_candidates
