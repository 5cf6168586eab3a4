"""The evaluation core: full-ranking top-K lists and ranks of relevant items, in chunks.

Every user is ranked against its *candidates*: all items (or the given
candidate set, e.g. cold-start items only) minus the items it is excluded from
(its history). Relevant items are ranked in that full ranking, never against a
sample of negatives.

Ties: items with equal scores are ordered by a seeded random key that depends
only on ``(rng_seed, user id, item)`` (see :mod:`fedrec.metrics.tie_break`),
so results are deterministic, the same however users are chunked, and a
constant scorer gets the expected metrics of a random ranking.

Exclusions: excluded items never appear in a top-K list and do not count
towards anyone's rank. A relevant item that is excluded, or is not a
candidate, is a :class:`~fedrec.errors.ConfigError`: filter the relevant
items first.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fedrec.errors import ConfigError
from fedrec.metrics.base import UndefinedMetricWarning, check_cutoff, mean_or_nan
from fedrec.metrics.chunk_ranking import relevant_ranks, top_k
from fedrec.metrics.coverage import Coverage
from fedrec.metrics.diversity import IntraListDiversity
from fedrec.metrics.hit_rate import HitRate
from fedrec.metrics.inputs import candidate_mask, check_relevant, flatten, index_lists
from fedrec.metrics.mrr import MRR
from fedrec.metrics.ndcg import NDCG
from fedrec.metrics.novelty import Novelty
from fedrec.metrics.recall import Recall
from fedrec.metrics.tie_break import ChunkKeys


@dataclass(frozen=True)
class Ranking:
    """The result of :func:`rank_items` for a batch of users.

    ``topk``: ``[n_users, k]`` int64 global item indices, best first; ``-1`` pads
    the list of a user with fewer than ``k`` candidates. ``ranks``: one int64
    array per user with the 1-based full-ranking rank of each of its relevant
    items, in the order given (empty tuple when no relevant items were passed).
    """

    topk: np.ndarray
    ranks: tuple[np.ndarray, ...]


def rank_items(
    scores: np.ndarray,
    *,
    k: int,
    exclude: Sequence[np.ndarray] | None = None,
    candidates: np.ndarray | None = None,
    relevant: Sequence[np.ndarray] | None = None,
    user_ids: np.ndarray | None = None,
    rng_seed: int = 0,
    chunk_size: int = 1024,
) -> Ranking:
    """Rank each user's candidates by ``scores`` ``[n_users, n_items]`` (higher is better).

    ``exclude[u]`` and ``relevant[u]`` are item-index arrays for row ``u``;
    ``candidates`` is a bool mask ``[n_items]`` or an index array (``None``:
    all items); ``user_ids`` ``[n_users]`` seed the tie-break (default
    ``arange(n_users)``; pass the real ids to make results chunking-invariant).
    Rows are processed ``chunk_size`` at a time to bound temporary memory.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or not np.issubdtype(scores.dtype, np.number):
        raise ConfigError(f"scores must be a 2-D real array [n_users, n_items], got {scores!r}")
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    if np.isnan(scores).any():
        raise ConfigError("scores contain NaN; fix the scorer or use -inf for 'never recommend'")
    n_users, n_items = scores.shape
    k, chunk_size = check_cutoff(k), check_cutoff(chunk_size, "chunk_size")
    mask = candidate_mask(candidates, n_items)
    excluded = index_lists(exclude, n_users, n_items, "exclude")
    rel = None if relevant is None else index_lists(relevant, n_users, n_items, "relevant")
    if rel is not None:
        check_relevant(rel, excluded, mask)
    ids = np.arange(n_users) if user_ids is None else np.asarray(user_ids)
    if ids.shape != (n_users,) or (n_users and not np.issubdtype(ids.dtype, np.integer)):
        raise ConfigError(f"user_ids must be an int array of shape ({n_users},), got {ids!r}")
    topk: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    for start in range(0, n_users, chunk_size):
        rows = slice(start, start + chunk_size)
        block = scores[rows]  # [b, n_items]
        valid = np.repeat(mask[None, :], block.shape[0], axis=0)  # [b, n_items]
        ex_rows, ex_items = flatten(excluded[rows])
        valid[ex_rows, ex_items] = False
        keys = ChunkKeys(ids[rows], n_items, rng_seed)
        topk.append(top_k(block, valid, keys, k))
        if rel is not None:
            ranks.extend(relevant_ranks(block, valid, keys, rel[rows], chunk_size))
    if not topk:
        topk.append(np.empty((0, k), dtype=np.int64))
    return Ranking(topk=np.concatenate(topk), ranks=tuple(ranks))


def standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of ``values`` (sample standard deviation over
    the square root of their count; NaN below two values)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]  # undefined values, as the mean skips them
    if values.size < 2:
        return float("nan")
    return float(values.std(ddof=1) / np.sqrt(values.size))


def _accuracy(ranks: list[np.ndarray], k: int) -> dict[str, float]:
    """HR, recall, NDCG (with its standard error) at ``k`` and MRR of the ranks."""
    result = {m.label: m(ranks) for m in (HitRate(k), Recall(k))}
    ndcg = NDCG(k)
    per_user = ndcg.per_user(ranks)  # once, for the mean and its standard error
    result[ndcg.label] = mean_or_nan(ndcg.label, per_user)
    result[f"{ndcg.label}_se"] = standard_error(per_user)
    result["mrr"] = MRR()(ranks)
    return result


def evaluate_scores(
    score_fn: Callable[[np.ndarray], np.ndarray],
    users: np.ndarray,
    relevant: Sequence[np.ndarray],
    exclude: Sequence[np.ndarray],
    *,
    candidates: np.ndarray | None = None,
    k: int = 10,
    item_vectors: np.ndarray | None = None,
    item_counts: np.ndarray,
    rng_seed: int = 0,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Score, rank and evaluate ``users`` in chunks; return every metric's mean.

    ``score_fn(users_chunk) -> [len(chunk), n_items]`` scores (``n_items`` is
    ``len(item_counts)``, the training popularity counts used by novelty).
    ``relevant[i]`` / ``exclude[i]`` are the item indices of ``users[i]``.
    Users with no relevant items are skipped with one warning. Keys (K = ``k``):
    ``hr@K, recall@K, ndcg@K, ndcg@K_se, mrr, coverage@K, diversity@K, novelty@K``
    and ``users``, the number of users evaluated; ``ndcg@K_se`` is the standard error
    of the NDCG@K mean over users (NaN below two users). Coverage is over the candidates;
    diversity is NaN with a warning when ``item_vectors`` is None.
    """
    users = np.asarray(users)
    if users.ndim != 1 or (users.size and not np.issubdtype(users.dtype, np.integer)):
        raise ConfigError(f"users must be a 1-D int array of user indices, got {users!r}")
    if len(relevant) != users.size or len(exclude) != users.size:
        raise ConfigError(
            f"relevant ({len(relevant)}) and exclude ({len(exclude)}) need one entry per user "
            f"({users.size})"
        )
    k, chunk_size = check_cutoff(k), check_cutoff(chunk_size, "chunk_size")
    n_items = np.asarray(item_counts).size
    novelty = Novelty(k, item_counts=item_counts)
    n_candidates = int(candidate_mask(candidates, n_items).sum())
    keep = np.flatnonzero([len(r) > 0 for r in relevant])
    if keep.size < users.size:
        warnings.warn(
            f"{users.size - keep.size} user(s) have no relevant items and are not evaluated",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    topk: list[np.ndarray] = [np.empty((0, k), dtype=np.int64)]
    ranks: list[np.ndarray] = []
    for start in range(0, keep.size, chunk_size):
        idx = keep[start : start + chunk_size]
        scores = np.asarray(score_fn(users[idx]))
        if scores.shape != (idx.size, n_items):
            raise ConfigError(
                f"score_fn returned shape {scores.shape}, expected ({idx.size}, {n_items}) "
                "(one row per user, one column per item of item_counts)"
            )
        ranking = rank_items(
            scores,
            k=k,
            exclude=[exclude[i] for i in idx],
            candidates=candidates,
            relevant=[relevant[i] for i in idx],
            user_ids=users[idx],
            rng_seed=rng_seed,
            chunk_size=chunk_size,
        )
        topk.append(ranking.topk)
        ranks.extend(ranking.ranks)
    lists = np.concatenate(topk)
    result = _accuracy(ranks, k)
    result[f"coverage@{k}"] = Coverage(k, n_candidates=n_candidates)(lists)
    if item_vectors is None:
        warnings.warn(
            f"diversity@{k} is undefined: no item_vectors given",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        result[f"diversity@{k}"] = float("nan")
    else:
        result[f"diversity@{k}"] = IntraListDiversity(k, item_vectors=item_vectors)(lists)
    result[f"novelty@{k}"] = novelty(lists)
    result["users"] = int(keep.size)
    return result
