"""Item-based k-nearest-neighbours with cosine similarity."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fedrec.baselines.base import Recommender
from fedrec.errors import ConfigError


class ItemKNN(Recommender):
    """Sparse item-item cosine similarity, pruned to ``k`` neighbours, ``score = history @ S``.

    ::

        sim(i, j) = c_ij / (sqrt(n_i) * sqrt(n_j) + shrink)      for i != j, sim(i, i) = 0

    with ``c_ij`` the number of users who interacted with both items and ``n_i``
    item ``i``'s count. For each target item ``j`` (a column of ``S``) only its
    ``k`` most similar items are kept (ties broken towards the lower item index),
    so ``score(u, j) = sum of sim(i, j) over the neighbours i of j in u's history``.
    """

    def __init__(self, k: int = 100, shrink: float = 0.0) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a positive int (neighbours per item), got {k!r}")
        if isinstance(shrink, bool) or not isinstance(shrink, (int, float)) or shrink < 0:
            raise ConfigError(f"shrink must be a float >= 0, got {shrink!r}")
        self.k, self.shrink = int(k), float(shrink)

    def _fit(self, train: sp.csr_matrix) -> None:
        n_items = train.shape[1]
        co = sp.coo_matrix(train.T @ train)  # [n_items, n_items] co-occurrence counts
        norms = np.sqrt(np.asarray(train.sum(axis=0)).ravel())  # [n_items]
        off = co.row != co.col
        rows, cols, counts = co.row[off], co.col[off], co.data[off]
        sims = counts / (norms[rows] * norms[cols] + self.shrink)
        # Per column: sort by similarity (descending, then row), keep the first k.
        order = np.lexsort((rows, -sims, cols))
        rows, cols, sims = rows[order], cols[order], sims[order]
        starts = np.searchsorted(cols, np.arange(n_items))  # first entry of each column
        keep = (np.arange(cols.size) - starts[cols]) < self.k
        self.similarity = sp.csr_matrix(
            (sims[keep], (rows[keep], cols[keep])), shape=(n_items, n_items)
        )

    def _score(self, history: sp.csr_matrix) -> np.ndarray:
        return (history @ self.similarity).toarray()
