"""Top-k item search: exact by default, approximate for large catalogs.

Scores are ``<u, v_i> / τ + b_i`` over unit vectors. :class:`ExactIndex` is one
matrix product and a partial sort: exact, and fast up to hundreds of thousands
of items. :class:`HnswIndex` (``faiss-cpu``'s HNSW graph, inner product)
returns candidates for very large catalogs; the offsets are added to them and
they are re-ranked exactly, so only recall (measured in
``benchmarks/serving.py``) is approximate, never a score.
"""

from __future__ import annotations

import numpy as np

from fedrec.errors import ConfigError

#: Candidates an approximate search fetches per requested item, before exact re-ranking.
ANN_OVERFETCH = 8


class ExactIndex:
    """Exact top-k by one matrix product."""

    def __init__(self, vectors: np.ndarray, offsets: np.ndarray, temperature: float) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # [n, d]
        self.offsets = np.asarray(offsets, dtype=np.float32)  # [n]
        self.temperature = float(temperature)

    def __len__(self) -> int:
        return len(self.vectors)

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.concatenate([self.vectors, np.asarray(vectors, dtype=np.float32)])
        self.offsets = np.concatenate([self.offsets, np.zeros(len(vectors), dtype=np.float32)])

    def scores(self, user: np.ndarray) -> np.ndarray:
        """[n] scores of every item for one user vector [d]."""
        return self.vectors @ user / self.temperature + self.offsets

    def top(self, user: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """Indices of the ``k`` best items among ``allowed`` ([n] bool), best first."""
        scores = self.scores(user)
        return top_indices(scores, k, allowed)


class HnswIndex(ExactIndex):
    """Approximate candidates from an HNSW graph (faiss), re-ranked exactly."""

    def __init__(self, vectors: np.ndarray, offsets: np.ndarray, temperature: float) -> None:
        super().__init__(vectors, offsets, temperature)
        try:
            import faiss
        except ImportError:
            raise ConfigError(
                "index=hnsw needs faiss-cpu: pip install faiss-cpu (or use index=exact)."
            ) from None
        self._faiss = faiss
        self.graph = faiss.IndexHNSWFlat(self.vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        self.graph.hnsw.efSearch = 128
        self.graph.add(self.vectors)

    def add(self, vectors: np.ndarray) -> None:
        super().add(vectors)
        self.graph.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def top(self, user: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        fetch = min(len(self), max(k * ANN_OVERFETCH, 64))
        _, found = self.graph.search(user.reshape(1, -1).astype(np.float32), fetch)
        candidates = found[0][found[0] >= 0]
        if allowed is not None:
            candidates = candidates[allowed[candidates]]
        if len(candidates) < k:  # filters removed too many: fall back to the exact search
            return super().top(user, k, allowed)
        scores = self.vectors[candidates] @ user / self.temperature + self.offsets[candidates]
        return candidates[top_indices(scores, k, None)]


def top_indices(scores: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
    """The ``k`` highest ``scores`` among ``allowed``, best first (ties by index)."""
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
        k = min(k, int(allowed.sum()))
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


def make_index(
    kind: str, vectors: np.ndarray, offsets: np.ndarray, temperature: float
) -> ExactIndex:
    if kind == "exact":
        return ExactIndex(vectors, offsets, temperature)
    if kind == "hnsw":
        return HnswIndex(vectors, offsets, temperature)
    raise ConfigError(f"index={kind!r} is unknown: use 'exact' or 'hnsw'.")
