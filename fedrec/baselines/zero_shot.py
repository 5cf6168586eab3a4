"""Zero-shot baseline: the untrained backbone's text similarity.

Item vectors are the frozen backbone's mean-pooled item text vectors; a user is
the mean of its history item vectors plus its profile text vector (all unit
length); the score is cosine similarity. Nothing is learned from interactions,
so it is the reference for what the text alone gives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ZeroShot:
    """Cosine similarity of frozen text vectors."""

    def __init__(self, item_vectors: np.ndarray, profile_vectors: np.ndarray | None = None) -> None:
        self.items = _unit(np.asarray(item_vectors, dtype=np.float32))  # [N, H]
        # profile_vectors[user]: [U, H], zero rows for users without a profile.
        self.profiles = (
            None if profile_vectors is None else _unit(np.asarray(profile_vectors, np.float32))
        )

    def score_histories(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores [B, N] for users (indices into the profile table) with item histories."""
        query = np.zeros((len(histories), self.items.shape[1]), dtype=np.float32)
        for row, seq in enumerate(histories):
            if len(seq):
                query[row] = self.items[np.asarray(seq)].mean(0)
        if self.profiles is not None:
            query += self.profiles[np.asarray(users)]
        return _unit(query) @ self.items.T


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)
