"""Training rows: (user, target item, the user's history before the target).

The privacy unit decides how many rows one user contributes per epoch:
``interaction`` gives one row per training interaction; ``user`` one row per
user per epoch (a target drawn at random from that user's interactions), so
that a user's contribution to each epoch is bounded — what user-level
differential privacy needs.
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
    owner_start: np.ndarray  # [U'] first row of each distinct user
    owner_count: np.ndarray  # [U'] rows per distinct user

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


def build_rows(train: pd.DataFrame, max_history: int) -> TrainingRows:
    """Rows from a train frame with columns user, item (sorted by user, time)."""
    users = train["user"].to_numpy(np.int64)
    items = train["item"].to_numpy(np.int64)
    n = len(users)
    history = np.full((n, max_history), -1, dtype=np.int64)
    change = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[change, n])
    # Position of each row inside its user's sequence.
    pos = np.arange(n) - np.repeat(change, counts)
    for lag in range(1, max_history + 1):
        ok = pos >= lag
        history[ok, lag - 1] = items[np.flatnonzero(ok) - lag]
    return TrainingRows(users, items, history, change.astype(np.int64), counts.astype(np.int64))
