"""EASE: the closed-form shallow linear autoencoder (Steck, 2019)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from fedrec.baselines.base import Recommender
from fedrec.errors import ConfigError

MAX_ITEMS = 20_000


class EASE(Recommender):
    """Item-item weights ``B`` ``[n_items, n_items]`` in closed form, ``score = history @ B``.

    ::

        P = (X^T X + l2 * I)^-1
        B = I - P / diag(P)       (column j divided by P_jj), so B_ij = -P_ij / P_jj
        diag(B) = 0

    ``X`` is the binary training matrix. Fitting inverts a dense ``n_items x
    n_items`` float64 matrix: O(n_items^3) time and O(n_items^2) memory, so
    more than 20,000 items is refused (use :class:`~fedrec.baselines.ItemKNN`).
    """

    def __init__(self, l2: float = 500.0) -> None:
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 > 0:
            raise ConfigError(f"l2 must be a positive float (the ridge penalty), got {l2!r}")
        self.l2 = float(l2)

    def _fit(self, train: sp.csr_matrix) -> None:
        n_items = train.shape[1]
        if n_items > MAX_ITEMS:
            raise ConfigError(
                f"EASE inverts a dense n_items x n_items matrix (O(n_items^3)); {n_items} items "
                f"is over the limit of {MAX_ITEMS}. Use ItemKNN for a catalog this large."
            )
        gram = (train.T @ train).toarray()  # [n_items, n_items] float64
        gram[np.diag_indices(n_items)] += self.l2
        # gram is symmetric positive definite (l2 > 0): invert through Cholesky.
        inverse = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), np.eye(n_items))
        weights = -inverse / np.diag(inverse)[None, :]
        weights[np.diag_indices(n_items)] = 0.0
        self.weights = weights

    def _score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(history @ self.weights)
