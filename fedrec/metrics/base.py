"""The two tiny bases every metric sits on, and the warning for undefined values.

Accuracy metrics (:class:`RankMetric`) work from *ranks*: for one evaluation
case (one user) ``ranks`` is a 1-D int array holding the 1-based position of
each relevant item in the full ranking of that user's candidates (never a
sample of negatives). List metrics (:class:`ListMetric`) work from the top-K
lists themselves: an int array ``[n_users, >=K]`` of item indices, where ``-1``
pads a list that had fewer than K candidates.

A value that cannot be computed is NaN and raises an
:class:`UndefinedMetricWarning`, never a silent 0.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from fedrec.errors import ConfigError


class UndefinedMetricWarning(RuntimeWarning):
    """A metric (or one user's value of it) is undefined and was set to NaN."""


def warn_undefined(label: str, reason: str) -> None:
    """Warn that ``label`` is undefined because of ``reason``."""
    warnings.warn(f"{label} is undefined: {reason}", UndefinedMetricWarning, stacklevel=3)


def check_cutoff(k: int, name: str = "k") -> int:
    """Return ``k`` if it is a positive int, else raise :class:`ConfigError`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"{name} must be a positive int (the cut-off K), got {k!r}")
    return int(k)


class _Labelled:
    """Owns the cut-off ``k`` (``None`` for no cut-off) and the label ``name@k``."""

    name: ClassVar[str]

    def __init__(self, k: int | None) -> None:
        self.k: int | None = None if k is None else check_cutoff(k)

    @property
    def label(self) -> str:
        """The metric's key, e.g. ``"ndcg@10"`` or ``"mrr"``."""
        return self.name if self.k is None else f"{self.name}@{self.k}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k})"


class RankMetric(_Labelled, ABC):
    """An accuracy metric: one value per user from the ranks of that user's relevant items.

    The aggregate is the mean of the per-user values. A user with no relevant
    items has an undefined value (excluded from the mean, with a warning); no
    users at all gives NaN with a warning.
    """

    @abstractmethod
    def _user_value(self, ranks: np.ndarray) -> float:
        """The value for one user; ``ranks`` is non-empty and validated."""

    def user_value(self, ranks: np.ndarray) -> float:
        """The value for one user, NaN (without warning) if it has no relevant items."""
        ranks = _check_ranks(ranks)
        return float("nan") if ranks.size == 0 else self._user_value(ranks)

    def per_user(self, ranks_per_user: Sequence[np.ndarray]) -> np.ndarray:
        """Per-user values ``[n_users]`` (float64, NaN where undefined, with one warning)."""
        values = np.array([self.user_value(r) for r in ranks_per_user], dtype=np.float64)
        n_undefined = int(np.isnan(values).sum())
        if n_undefined:
            warn_undefined(self.label, f"{n_undefined} user(s) have no relevant items; excluded")
        return values

    def __call__(self, ranks_per_user: Sequence[np.ndarray]) -> float:
        """The mean over users whose value is defined (NaN with a warning if none)."""
        values = self.per_user(ranks_per_user)
        return mean_or_nan(self.label, values)


class ListMetric(_Labelled, ABC):
    """A beyond-accuracy metric computed from the users' top-K lists."""

    k: int  # always set: list metrics have a cut-off

    def __init__(self, k: int) -> None:
        super().__init__(check_cutoff(k))

    def top(self, topk: np.ndarray) -> np.ndarray:
        """The first ``k`` columns of ``topk`` (``[n_users, k]``, int64, -1 = no item)."""
        topk = np.asarray(topk)
        if topk.ndim != 2 or not np.issubdtype(topk.dtype, np.integer):
            raise ConfigError(f"topk must be a 2-D int array [n_users, K], got {topk.shape}")
        if topk.shape[1] < self.k:
            raise ConfigError(f"{self.label} needs top-{self.k} lists, got {topk.shape[1]}")
        return topk[:, : self.k].astype(np.int64, copy=False)

    @abstractmethod
    def __call__(self, topk: np.ndarray) -> float:
        """The metric over all users' lists."""


def mean_or_nan(label: str, values: np.ndarray) -> float:
    """The mean of the non-NaN ``values``; NaN with a warning if there are none."""
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        warn_undefined(label, "no users with a defined value")
        return float("nan")
    return float(defined.mean())


def _check_ranks(ranks: np.ndarray) -> np.ndarray:
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or (ranks.size and not np.issubdtype(ranks.dtype, np.integer)):
        raise ConfigError(f"ranks must be a 1-D int array of 1-based ranks, got {ranks!r}")
    if ranks.size and ranks.min() < 1:
        raise ConfigError(f"ranks are 1-based and must be >= 1, got {ranks.min()}")
    return ranks.astype(np.int64, copy=False)
