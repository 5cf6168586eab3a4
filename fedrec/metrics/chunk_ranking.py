"""The per-chunk kernels of the ranking core, vectorised over users and items.

Both work on one chunk of users: ``scores`` ``[b, n]``, ``valid`` ``[b, n]``
(a candidate and not excluded) and the chunk's :class:`ChunkKeys`. The order
is strict and total: score descending, then tie-break key descending (keys are
unique per user), so an item is in a user's top K exactly when its rank is <= K.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedrec.metrics.inputs import flatten
from fedrec.metrics.tie_break import ChunkKeys

_ABOVE = np.uint64(2**63)  # priority offsets in _draw_dense; tie-break keys are < 2**62
_TIED = np.uint64(2**62)
_KEY_MAX = np.uint64(2**64 - 1)  # _KEY_MAX - key sorts keys in descending order


def top_k(scores: np.ndarray, valid: np.ndarray, keys: ChunkKeys, k: int) -> np.ndarray:
    """``[b, k]`` best-first valid items by (score desc, key desc), ``-1`` padded."""
    b, n = scores.shape
    kk = min(k, n)
    # The kk-th best valid score: items above it are in; ties at it are drawn by key.
    masked = np.where(valid, scores, -np.inf)
    threshold = np.partition(masked, n - kk, axis=1)[:, n - kk, None]  # [b, 1]
    above = valid & (scores > threshold)
    tied = valid & (scores == threshold)
    if np.count_nonzero(tied) <= 8 * b * kk:  # few ties: sort them by key, take what is missing
        t_rows, t_items = np.nonzero(tied)
        n_draw = np.minimum(kk, valid.sum(axis=1)) - above.sum(axis=1)  # [b]
        order = np.lexsort((_KEY_MAX - keys.of(t_rows, t_items), t_rows))
        t_rows, t_items = t_rows[order], t_items[order]
        take = _position_in_row(t_rows, b) < n_draw[t_rows]
        a_rows, a_items = np.nonzero(above)
        rows = np.concatenate([a_rows, t_rows[take]])
        items = np.concatenate([a_items, t_items[take]])
    else:  # many ties (e.g. a constant scorer): one argpartition on a distinct priority
        rows, items = _draw_dense(valid, above, tied, keys, kk)
    # Order each row's chosen items by (score desc, key desc) and write them best first.
    order = np.lexsort((_KEY_MAX - keys.of(rows, items), -scores[rows, items], rows))
    rows, items = rows[order], items[order]
    out = np.full((b, k), -1, dtype=np.int64)
    out[rows, _position_in_row(rows, b)] = items
    return out


def _draw_dense(
    valid: np.ndarray, above: np.ndarray, tied: np.ndarray, keys: ChunkKeys, kk: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row, item) pairs of the ``kk`` best valid items per row, through one argpartition."""
    b, n = valid.shape
    # Priorities all distinct within a row (argpartition slows down badly on many equal
    # values): above the threshold 2**63 + item, tied 2**62 + key, else the item index.
    item = np.arange(n, dtype=np.uint64)
    priority = np.where(above, _ABOVE + item, item)  # [b, n] uint64
    if _mostly(tied):
        np.copyto(priority, _TIED + keys.dense(), where=tied)
    else:
        t_rows, t_items = np.nonzero(tied)
        priority[t_rows, t_items] = _TIED + keys.of(t_rows, t_items)
    chosen = np.argpartition(priority, n - kk, axis=1)[:, n - kk :]  # [b, kk]
    rows = np.repeat(np.arange(b), kk).reshape(b, kk)
    keep = np.take_along_axis(valid, chosen, axis=1)
    return rows[keep], chosen[keep]


def relevant_ranks(
    scores: np.ndarray,
    valid: np.ndarray,
    keys: ChunkKeys,
    relevant: Sequence[np.ndarray],
    block: int,
) -> list[np.ndarray]:
    """Per row, the 1-based rank of each relevant item: 1 + #valid items ordered before it."""
    if not relevant:
        return []
    rows, items = flatten(relevant)
    flat = np.empty(rows.size, dtype=np.int64)
    for start in range(0, rows.size, block):  # at most `block` gathered rows at a time
        r, i = rows[start : start + block], items[start : start + block]
        s_rel, s_row, v_row = scores[r, i][:, None], scores[r], valid[r]  # [p, 1], [p, n], [p, n]
        higher = np.count_nonzero(v_row & (s_row > s_rel), axis=1)
        # Equal scores (the item itself included): ordered before it if their key is larger.
        equal = v_row & (s_row == s_rel)  # [p, n]
        rel_keys = keys.of(r, i)  # [p]
        if _mostly(equal):
            tied_before = np.count_nonzero(equal & (keys.dense()[r] > rel_keys[:, None]), axis=1)
        else:
            e_pair, e_items = np.nonzero(equal)
            e_before = keys.of(r[e_pair], e_items) > rel_keys[e_pair]
            tied_before = np.bincount(e_pair[e_before], minlength=r.size)
        flat[start : start + block] = higher + tied_before + 1
    return np.split(flat, np.cumsum([len(x) for x in relevant])[:-1])


def _position_in_row(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """0-based position of each entry within its run of equal values in sorted ``rows``."""
    starts = np.searchsorted(rows, np.arange(n_rows))
    return np.arange(rows.size) - starts[rows]


def _mostly(mask: np.ndarray) -> bool:
    """Whether so many entries are set that hashing every item beats scattering (>1/8)."""
    return bool(np.count_nonzero(mask) * 8 > mask.size)
