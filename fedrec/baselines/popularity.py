"""Most-popular baseline."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fedrec.baselines.base import Recommender


class Popularity(Recommender):
    """Scores every item by its number of training interactions, the same for every user.

    ::

        score(u, i) = |{v : train[v, i] = 1}|
    """

    counts: np.ndarray  # [n_items] float64

    def _fit(self, train: sp.csr_matrix) -> None:
        self.counts = np.asarray(train.sum(axis=0), dtype=np.float64).ravel()

    def _score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.counts, (history.shape[0], 1))
