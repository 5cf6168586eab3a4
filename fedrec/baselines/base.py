"""The tiny interface every classic recommender shares: ``fit`` then ``score``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

from fedrec.errors import ConfigError, ModelError


def as_binary(matrix: sp.spmatrix | sp.sparray, name: str) -> sp.csr_matrix:
    """A float64 CSR copy of a user-item matrix with every stored non-zero set to 1."""
    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise ConfigError(f"{name} must be a 2-D scipy.sparse matrix [n_users, n_items]")
    binary = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    binary.eliminate_zeros()
    binary.data[:] = 1.0
    return binary


R = TypeVar("R", bound="Recommender")


class Recommender(ABC):
    """A recommender over a binary user-item interaction matrix.

    ``fit(train)`` learns from ``train`` ``[n_users, n_items]``; ``score(history)``
    returns ``[n_batch, n_items]`` float64 scores (higher is better) for any
    rows of interactions, including users absent from ``train``. Items already in
    a row's history are not masked here: the ranking core excludes them.
    """

    n_items: int | None = None

    def fit(self: R, train: sp.spmatrix | sp.sparray) -> R:
        """Learn from ``train`` (non-zeros count as interactions) and return ``self``."""
        matrix = as_binary(train, "train")
        self._fit(matrix)
        self.n_items = matrix.shape[1]
        return self

    def score(self, history: sp.spmatrix | sp.sparray) -> np.ndarray:
        """Scores ``[n_batch, n_items]`` for the rows of ``history`` ``[n_batch, n_items]``."""
        if self.n_items is None:
            raise ModelError(f"{type(self).__name__} is not fitted; call fit(train) first")
        matrix = as_binary(history, "history")
        if matrix.shape[1] != self.n_items:
            raise ConfigError(
                f"history has {matrix.shape[1]} item columns but the model was fitted on "
                f"{self.n_items}; use the same item index"
            )
        return np.asarray(self._score(matrix), dtype=np.float64)

    @abstractmethod
    def _fit(self, train: sp.csr_matrix) -> None:
        """Learn from a validated binary float64 CSR matrix."""

    @abstractmethod
    def _score(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores for a validated binary float64 CSR matrix."""
