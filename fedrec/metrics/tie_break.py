"""Seeded random tie-break keys, a pure function of (seed, user id, item index).

Two items with equal scores are ordered by a per-(user, item) random key: the
higher key ranks first. The key comes from hashing ``(rng_seed, user_id,
item)`` with SplitMix64, so it is

* deterministic given ``rng_seed`` and the user's id,
* independent of how users are batched or chunked (a user's keys do not depend
  on which other users are ranked with it), and
* a uniformly random order of any group of tied items, unrelated to item
  order, so a constant scorer gets the expected value of a random ranking.

Keys are 62-bit unsigned ints (below 2**62) whose low bits hold the item index, so no two
items of one user share a key and the order is strict.
"""

from __future__ import annotations

import numpy as np

from fedrec.errors import ConfigError

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on a uint64 array (wraps modulo 2**64 by design)."""
    with np.errstate(over="ignore"):  # numpy scalars warn on the intended wrap-around
        x = x + _GOLDEN  # a fresh array; the rest works in place to spare memory traffic
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return x


def tie_break_keys(
    user_ids: np.ndarray, items: np.ndarray, *, n_items: int, rng_seed: int = 0
) -> np.ndarray:
    """Keys of ``(user_ids, items)``, broadcast together, as uint64 values below 2**62.

    ``n_items`` is the catalog size; for one user, keys of distinct items differ.
    For a full ``[n_users, n_items]`` table pass ``user_ids[:, None]`` and
    ``np.arange(n_items)[None, :]``.
    """
    items = np.asarray(items)
    if items.size and not np.issubdtype(items.dtype, np.integer):
        raise ConfigError(f"items must be an int array, got dtype {items.dtype}")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ConfigError(f"items must lie in [0, n_items={n_items})")
    return ChunkKeys(user_ids, n_items, rng_seed).of(_positions(user_ids), items)


def _positions(user_ids: np.ndarray) -> np.ndarray:
    """Positions ``0..size-1`` shaped like ``user_ids`` (rows of :attr:`ChunkKeys.states`)."""
    return np.arange(np.size(user_ids)).reshape(np.shape(user_ids))


class ChunkKeys:
    """The tie-break keys of one chunk of users, hashed only where asked for.

    ``of(rows, items)`` gives the keys of (chunk row, item) pairs; ``dense()`` the
    whole ``[n_rows, n_items]`` table, hashed once and kept (cheaper than
    scattering when most items tie, e.g. for a constant scorer).
    """

    def __init__(self, user_ids: np.ndarray, n_items: int, rng_seed: int = 0) -> None:
        user_ids = np.asarray(user_ids)
        if user_ids.size and not np.issubdtype(user_ids.dtype, np.integer):
            raise ConfigError(f"user_ids must be an int array, got dtype {user_ids.dtype}")
        if isinstance(rng_seed, bool) or not isinstance(rng_seed, (int, np.integer)):
            raise ConfigError(f"rng_seed must be an int, got {rng_seed!r}")
        seed = _splitmix64(np.array([int(rng_seed) % 2**64], dtype=np.uint64))
        ids = np.ascontiguousarray(user_ids, dtype=np.int64).ravel().view(np.uint64)
        self.states = _splitmix64(ids ^ seed)  # [n_rows], one stream per user
        self.n_items = n_items
        self._n_bits = np.uint64(max(1, int(n_items - 1).bit_length()))
        self._dense: np.ndarray | None = None

    def of(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Keys of the (chunk row, item) pairs, broadcast together."""
        items = np.asarray(items).astype(np.uint64)
        # The items-th output of a SplitMix64 stream seeded with the user's state.
        with np.errstate(over="ignore"):
            start = self.states[rows] + items * _GOLDEN
        hashed = _splitmix64(start)
        return (((hashed >> np.uint64(2)) >> self._n_bits) << self._n_bits) | items

    def dense(self) -> np.ndarray:
        """Keys of every (row, item), ``[n_rows, n_items]``, computed once."""
        if self._dense is None:
            rows = np.arange(self.states.size)[:, None]
            self._dense = self.of(rows, np.arange(self.n_items)[None, :])
        return self._dense
