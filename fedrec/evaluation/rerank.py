"""Re-ranking by maximal marginal relevance (MMR): trade some accuracy for diversity.

Each list is built greedily from a pool of the best-scored candidates. Step
``t`` takes the candidate that maximises

    (1 - λ) · rel(i) - λ · max_{j already taken} cos(v_i, v_j)

with ``rel`` the candidate's score min-max scaled to [0, 1] within its pool (so
λ weighs two quantities on the same scale) and ``λ = diversity``. ``λ = 0`` is
the plain ranking by score; larger ``λ`` lets an item that is unlike those
already in the list move up. The same function serves requests
(``diversity`` in ``/recommend``) and the evaluation's trade-off curve
(``benchmarks/rerank.py``).
"""

from __future__ import annotations

import numpy as np

from fedrec.errors import ConfigError

#: Candidates considered per list: this many times ``k``, and at least ``MIN_POOL``.
POOL_FACTOR = 5
MIN_POOL = 50


def pool_size(k: int, n: int) -> int:
    """How many top-scored candidates MMR chooses from for a list of ``k`` out of ``n``."""
    return min(n, max(POOL_FACTOR * k, MIN_POOL))


def check_diversity(diversity: float) -> float:
    if not 0.0 <= diversity <= 1.0:
        raise ConfigError(
            f"diversity={diversity}: use a weight in [0, 1] (0 = rank by score alone)."
        )
    return float(diversity)


def mmr(scores: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Re-ranked lists [B, k] of column indices from ``scores`` [B, M] (``-inf`` = not a
    candidate) and the candidates' vectors [B, M, d] (or [M, d], shared by every row);
    ``-1`` pads a row with fewer than ``k`` candidates."""
    diversity = check_diversity(diversity)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    b, m = scores.shape
    if m == 0:
        return np.full((b, k), -1, dtype=np.int64)
    vecs = np.asarray(vectors, dtype=np.float64)
    vecs = np.broadcast_to(vecs, (b, m, vecs.shape[-1]))
    norms = np.linalg.norm(vecs, axis=-1, keepdims=True)
    unit = np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)
    valid = np.isfinite(scores)
    rel = _scaled(scores, valid)
    out = np.full((b, k), -1, dtype=np.int64)
    closest = np.zeros((b, m))  # max cosine to the items taken so far
    open_ = valid.copy()
    rows = np.arange(b)
    for t in range(min(k, m)):
        gain = rel if t == 0 else (1.0 - diversity) * rel - diversity * closest
        pick = np.where(open_, gain, -np.inf).argmax(axis=1)
        has = open_[rows, pick]
        out[has, t] = pick[has]
        open_[rows, pick] = False
        sims = np.einsum("bmd,bd->bm", unit, unit[rows, pick])
        closest = sims if t == 0 else np.maximum(closest, sims)
    return out


def _scaled(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Scores min-max scaled to [0, 1] within each row's candidates (all 1 if they tie)."""
    low = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    high = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
    span = np.where(np.isfinite(high - low) & (high > low), high - low, 1.0)
    low = np.where(np.isfinite(low), low, 0.0)
    return np.where(valid, (scores - low) / span, 0.0)


def reranked_top(scores: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Top-``k`` item indices [B, k] of full score rows [B, n_items] (``-inf`` excluded),
    re-ranked by MMR among each row's :func:`pool_size` best; ``vectors`` [n_items, d]."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    size = pool_size(k, scores.shape[1])
    if size == 0:
        return np.full((len(scores), k), -1, dtype=np.int64)
    pool = np.argpartition(-scores, size - 1, axis=1)[:, :size]
    # best first, ties by index (as the plain ranking breaks them)
    order = np.lexsort((pool, -np.take_along_axis(scores, pool, 1)), axis=1)
    pool = np.take_along_axis(pool, order, 1)
    picked = mmr(np.take_along_axis(scores, pool, 1), np.asarray(vectors)[pool], k, diversity)
    out = np.take_along_axis(pool, np.maximum(picked, 0), 1)
    return np.where(picked >= 0, out, -1)
