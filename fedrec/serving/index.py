"""Top-k item search: exact by default, approximate for large catalogs.

Scores are ``<u, v_i> / τ + b_i`` over unit vectors. :class:`ExactIndex` is one
matrix product and a partial sort: exact, and fast up to hundreds of thousands
of items. :class:`HnswIndex` (``faiss-cpu``'s HNSW graphs over the whole score,
offsets included) returns candidates for very large catalogs, which are
re-ranked exactly, so only recall (measured in ``benchmarks/ann_recall.py``)
is approximate, never a score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedrec.errors import ConfigError

#: Candidates an approximate search fetches per requested item, before exact re-ranking.
ANN_OVERFETCH = 8
#: Links per node and search breadth of the HNSW graphs (benchmarks/ann_recall.py).
HNSW_LINKS, HNSW_SEARCH = 32, 128


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
    """Approximate candidates from HNSW graphs (faiss), re-ranked exactly.

    Items fall into two groups that one graph navigates badly together (measured:
    recall 0.63 at 100,000 items): those with a learned popularity ``b`` (trained
    items) and those without (items added from text, ``b = 0``). Each group has its
    own graph, both are searched and the union is re-ranked exactly. The first holds
    ``[v / τ, b, sqrt(M² - |v/τ|² - b²)]`` and is searched with ``[u, 1, 0]``: its
    inner product is the whole score, and every point has the norm ``M``, which turns
    the inner-product search into a nearest-neighbour one (Bachrach et al., 2014).
    The second is a plain inner-product graph over ``v``."""

    def __init__(self, vectors: np.ndarray, offsets: np.ndarray, temperature: float) -> None:
        super().__init__(vectors, offsets, temperature)
        try:
            import faiss
        except ImportError:
            raise ConfigError(
                "index=hnsw needs faiss-cpu: pip install faiss-cpu (or use index=exact)."
            ) from None
        self._faiss = faiss
        learned = self.offsets != 0
        scaled = self.vectors[learned] / self.temperature
        norms = (scaled**2).sum(1) + self.offsets[learned] ** 2
        self.radius = float(np.sqrt(norms.max(initial=0.0)))
        dim = self.vectors.shape[1]
        # [graph, the catalog row of each of its points]
        self.graphs = [[self._graph(dim + 2), np.zeros(0, np.int64)]]
        self.graphs.append([self._graph(dim), np.zeros(0, np.int64)])
        self._insert(np.arange(len(self)))

    def _graph(self, dim: int) -> Any:
        graph = self._faiss.IndexHNSWFlat(dim, HNSW_LINKS, self._faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efSearch = HNSW_SEARCH
        return graph

    def _insert(self, rows: np.ndarray) -> None:
        learned = self.offsets[rows] != 0
        picked, plain = rows[learned], rows[~learned]
        if len(picked):
            scaled = self.vectors[picked].astype(np.float64) / self.temperature
            b = self.offsets[picked, None].astype(np.float64)
            rest = np.clip(self.radius**2 - (scaled**2).sum(1, keepdims=True) - b**2, 0, None)
            points = np.hstack([scaled, b, np.sqrt(rest)])
            self.graphs[0][0].add(np.ascontiguousarray(points, np.float32))
            self.graphs[0][1] = np.concatenate([self.graphs[0][1], picked])
        if len(plain):
            self.graphs[1][0].add(np.ascontiguousarray(self.vectors[plain], np.float32))
            self.graphs[1][1] = np.concatenate([self.graphs[1][1], plain])

    def add(self, vectors: np.ndarray) -> None:
        start = len(self)
        super().add(vectors)
        self._insert(np.arange(start, len(self)))

    def top(self, user: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        user = np.asarray(user, dtype=np.float32)
        queries = (np.concatenate([user, [1.0, 0.0]]).astype(np.float32), user)
        found = []
        # a filter that keeps a share s of the items keeps about s of the candidates
        share = 1.0 if allowed is None else max(float(allowed.mean()), 1e-3)
        wanted = int(np.ceil(max(k * ANN_OVERFETCH, 64) / share))
        if 4 * wanted > len(self):  # a narrow filter: scoring every item is cheaper
            return super().top(user, k, allowed)
        for (graph, rows), query in zip(self.graphs, queries, strict=True):
            if len(rows):
                fetch = min(len(rows), wanted)
                _, hit = graph.search(query.reshape(1, -1), fetch)
                found.append(rows[hit[0][hit[0] >= 0]])
        candidates = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
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
