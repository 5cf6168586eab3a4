"""The one in-memory form every data source is turned into.

A :class:`RecDataset` holds three tables:

``items`` (the public catalog), one row per item:
    ``item_id`` (str), ``title`` (str), ``attributes`` (str, free text such as
    ``"Genres: Comedy, Drama. Year: 1995"``, may be empty) and ``scenario`` (str,
    the domain the item belongs to, e.g. ``"music"``; a single constant where the
    source has none).

``interactions`` (private user behaviour), one row per (user, item) event:
    ``user_id`` (str), ``item_id`` (str), ``timestamp`` (int64, seconds or any
    monotone clock) and ``rating`` (float64, NaN where the source has none).

``profiles`` (optional, private), one row per user with a profile text:
    ``user_id`` (str), ``profile`` (str).

Loaders build these tables and pass them through
:func:`fedrec.data.validate.validate_dataset`, which enforces the schema, the
duplicate policy and referential integrity.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ITEM_COLUMNS = ("item_id", "title", "attributes", "scenario")
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
PROFILE_COLUMNS = ("user_id", "profile")


@dataclass(frozen=True)
class RecDataset:
    """Items, interactions and optional profiles of one data source."""

    name: str
    items: pd.DataFrame
    interactions: pd.DataFrame
    profiles: pd.DataFrame | None = None
    #: Input rows the loader left out (``drop-bad-rows``; :mod:`fedrec.data.bad_rows`).
    dropped_rows: int = 0

    @property
    def scenarios(self) -> list[str]:
        """Scenario names in a stable (sorted) order."""
        return sorted(self.items["scenario"].unique().tolist())

    def item_text(self) -> list[str]:
        """One text per catalog row: the title, then the attributes when present."""
        titles = self.items["title"].astype(str)
        attrs = self.items["attributes"].astype(str)
        return [t if not a else f"{t}. {a}" for t, a in zip(titles, attrs, strict=True)]

    def describe(self) -> dict[str, object]:
        """Counts a user wants to see first (for ``fedrec data inspect``)."""
        inter = self.interactions
        n_users = int(inter["user_id"].nunique())
        n_items = len(self.items)
        per_scenario = (
            inter.merge(self.items[["item_id", "scenario"]], on="item_id")
            .groupby("scenario")
            .size()
            .to_dict()
        )
        return {
            "name": self.name,
            "users": n_users,
            "items": n_items,
            "interactions": len(inter),
            "density": len(inter) / max(1, n_users * n_items),
            "scenarios": {str(k): int(v) for k, v in per_scenario.items()},
            "profiles": 0 if self.profiles is None else len(self.profiles),
            "has_ratings": bool(inter["rating"].notna().any()),
            "dropped_rows": self.dropped_rows,
        }
