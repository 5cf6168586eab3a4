"""Intra-list diversity at K."""

from __future__ import annotations

import numpy as np

from fedrec.errors import ConfigError
from fedrec.metrics.base import ListMetric, mean_or_nan, warn_undefined


class IntraListDiversity(ListMetric):
    """Diversity@K: mean over users of the mean pairwise cosine distance within the top-K list.

    ::

        ILD@K(u)    = 2 / (n (n - 1)) * sum_{i < j in TopK(u)} (1 - cos(v_i, v_j))
        Diversity@K = mean_u ILD@K(u)

    with ``n`` the length of the list (K, fewer where ``-1`` pads it) and ``v_i``
    the row of ``item_vectors`` for item ``i``. A zero vector has cosine 0 with
    everything. A list with fewer than 2 items is undefined (NaN, warning), so
    K < 2 gives NaN.
    """

    name = "diversity"

    def __init__(self, k: int = 10, *, item_vectors: np.ndarray, chunk_size: int = 1024) -> None:
        super().__init__(k)
        vectors = np.asarray(item_vectors, dtype=np.float64)
        if vectors.ndim != 2:
            raise ConfigError(f"item_vectors must be 2-D [n_items, dim], got {vectors.shape}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self._unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        self.chunk_size = chunk_size

    def per_user(self, topk: np.ndarray) -> np.ndarray:
        """``[n_users]`` float64 ILD values, NaN (with one warning) for lists shorter than 2."""
        top = self.top(topk)
        if top.size and top.max() >= self._unit.shape[0]:
            raise ConfigError(f"{self.label}: item {top.max()} has no row in item_vectors")
        out = np.empty(top.shape[0], dtype=np.float64)
        for start in range(0, top.shape[0], self.chunk_size):
            block = top[start : start + self.chunk_size]  # [b, K]
            valid = block >= 0
            vecs = self._unit[np.where(valid, block, 0)] * valid[..., None]  # [b, K, dim]
            sims = np.einsum("bkd,bld->bkl", vecs, vecs)  # [b, K, K]
            n = valid.sum(axis=1).astype(np.float64)
            off_diagonal = sims.sum(axis=(1, 2)) - np.einsum("bkk->b", sims)
            pairs = n * (n - 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[start : start + len(block)] = np.where(
                    pairs > 0, 1 - off_diagonal / pairs, np.nan
                )
        n_short = int(np.isnan(out).sum())
        if n_short:
            warn_undefined(self.label, f"{n_short} list(s) have fewer than 2 items; excluded")
        return out

    def __call__(self, topk: np.ndarray) -> float:
        if self.k < 2:
            warn_undefined(self.label, "intra-list diversity needs K >= 2")
            return float("nan")
        return mean_or_nan(self.label, self.per_user(topk))
