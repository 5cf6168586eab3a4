"""Validation of the ragged per-user item lists and candidate sets the ranking core takes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedrec.errors import ConfigError


def candidate_mask(candidates: np.ndarray | None, n_items: int) -> np.ndarray:
    """A bool mask ``[n_items]`` from a mask, an index array, or ``None`` (all items)."""
    if candidates is None:
        return np.ones(n_items, dtype=bool)
    cand = np.asarray(candidates)
    if cand.dtype == bool:
        if cand.shape != (n_items,):
            raise ConfigError(f"a candidates mask must have shape ({n_items},), got {cand.shape}")
        mask = cand.copy()
    else:
        mask = np.zeros(n_items, dtype=bool)
        mask[_check_items(cand, n_items, "candidates")] = True
    if not mask.any():
        raise ConfigError("candidates is empty; pass at least one item to rank (or None for all)")
    return mask


def index_lists(
    lists: Sequence[np.ndarray] | None, n_users: int, n_items: int, name: str
) -> list[np.ndarray]:
    """``n_users`` int64 item-index arrays (empty ones when ``lists`` is None), validated."""
    if lists is None:
        return [np.empty(0, dtype=np.int64) for _ in range(n_users)]
    if len(lists) != n_users:
        raise ConfigError(f"{name} must hold one item array per user ({n_users}), got {len(lists)}")
    return [
        _check_items(np.asarray(items), n_items, f"{name}[{u}]") for u, items in enumerate(lists)
    ]


def flatten(lists: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(row, item) int64 pairs of a list of item arrays."""
    lengths = [len(x) for x in lists]
    rows = np.repeat(np.arange(len(lists)), lengths)
    items = np.concatenate(list(lists)) if lists else np.empty(0, dtype=np.int64)
    return rows, items.astype(np.int64, copy=False)


def check_relevant(relevant: list[np.ndarray], exclude: list[np.ndarray], mask: np.ndarray) -> None:
    """Raise :class:`ConfigError` unless every relevant item is a non-excluded candidate, once."""
    n_items = mask.size
    rows, items = flatten(relevant)
    codes = rows * n_items + items
    if np.unique(codes).size != codes.size:
        raise ConfigError("relevant holds an item twice for one user; pass each relevant item once")
    if not mask[items].all():
        u = int(rows[~mask[items]][0])
        raise ConfigError(
            f"relevant items of user row {u} are not candidates; restrict relevant to candidates"
        )
    ex_rows, ex_items = flatten(exclude)
    clash = np.isin(codes, ex_rows * n_items + ex_items)
    if clash.any():
        u, item = int(rows[clash][0]), int(items[clash][0])
        raise ConfigError(
            f"relevant item {item} of user row {u} is also excluded (in its history); "
            "an excluded item can never be ranked, so remove it from exclude or relevant"
        )


def _check_items(items: np.ndarray, n_items: int, name: str) -> np.ndarray:
    if items.ndim != 1 or (items.size and not np.issubdtype(items.dtype, np.integer)):
        raise ConfigError(f"{name} must be a 1-D int array of item indices, got {items!r}")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ConfigError(f"{name} has item indices outside [0, {n_items}): {items!r}")
    return items.astype(np.int64, copy=False)
