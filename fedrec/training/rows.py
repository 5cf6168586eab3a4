"""Training rows: (user, target item, the user's history before the target).

The privacy unit decides how many rows one user contributes per epoch:
``interaction`` gives one row per training interaction; ``user`` one row per
user per epoch (a target drawn at random from that user's interactions), so
that a user's contribution to each epoch is bounded — what user-level
differential privacy needs.

Rows are grouped by *owner*, the record of differential privacy: a user, or
with ``window`` one user's interactions in one time window. A row's history is
the owner's earlier interactions only, so that removing one interaction changes
only its own owner's rows: with windows, the rows of one (user, window) record
(without them, every later row of the user, up to ``max_history`` of them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TrainingRows:
    """All candidate rows of a training set."""

    users: np.ndarray  # [R]
    targets: np.ndarray  # [R]
    history: np.ndarray  # [R, T] most recent first, -1 padding
    owner_start: np.ndarray  # [O] first row of each owner (a user, or a user's window)
    owner_count: np.ndarray  # [O] rows per owner

    def __len__(self) -> int:
        return len(self.users)

    def epoch_rows(self, unit: str, rng: np.random.Generator, cap: int = 0) -> np.ndarray:
        """Row indices for one epoch, shuffled (``cap`` > 0 bounds their number)."""
        if unit == "user":
            rows = self.owner_start + (rng.random(len(self.owner_start)) * self.owner_count).astype(
                np.int64
            )
        else:
            rows = np.arange(len(self))
        rows = rng.permutation(rows)
        return rows[:cap] if cap > 0 else rows

    def first_items(self, rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Histories [len(rows), T] made of each row's owner's *first* ``lengths`` items
        (most recent first, -1 pad; never the row's target or anything after it): what
        a cold-start user's first clicks look like to the model."""
        owner = np.searchsorted(self.owner_start, rows, side="right") - 1
        start = self.owner_start[owner]
        keep = np.minimum(lengths, rows - start)  # only items before the target
        t = self.history.shape[1]
        lag = np.arange(t)[None, :]
        # Item of position keep-1-lag within the owner (most recent of the prefix first).
        pos = start[:, None] + keep[:, None] - 1 - lag
        out = np.where(lag < keep[:, None], self.targets[np.clip(pos, 0, len(self) - 1)], -1)
        return out.astype(np.int64)


def build_rows(train: pd.DataFrame, max_history: int, window: int | None = None) -> TrainingRows:
    """Rows from a train frame with columns user, item (and timestamp with ``window``),
    sorted by user and time. With ``window`` (seconds) the owners are a user's
    interactions in one window of the clock, and histories stay inside their window."""
    users = train["user"].to_numpy(np.int64)
    items = train["item"].to_numpy(np.int64)
    n = len(users)
    history = np.full((n, max_history), -1, dtype=np.int64)
    new_owner = np.r_[True, users[1:] != users[:-1]]
    if window is not None:
        slot = train["timestamp"].to_numpy(np.int64) // int(window)
        new_owner |= np.r_[True, slot[1:] != slot[:-1]]
    change = np.flatnonzero(new_owner)
    counts = np.diff(np.r_[change, n])
    # Position of each row inside its user's sequence.
    pos = np.arange(n) - np.repeat(change, counts)
    for lag in range(1, max_history + 1):
        ok = pos >= lag
        history[ok, lag - 1] = items[np.flatnonzero(ok) - lag]
    return TrainingRows(users, items, history, change.astype(np.int64), counts.astype(np.int64))
