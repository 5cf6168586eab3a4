"""Schema enforcement shared by every loader.

:func:`validate_dataset` turns whatever a loader built into a :class:`RecDataset`
that the rest of fedrec can trust:

* required columns are present (``items``: item_id, title, attributes, scenario;
  ``interactions``: user_id, item_id, timestamp, with rating optional and NaN when
  absent; ``profiles``: user_id, profile);
* dtypes are coerced: ids to ``str``, ``timestamp`` to int64 (datetime columns become
  seconds since the epoch), ``rating`` to float64;
* an empty title is replaced by the item id, an empty attributes text by ``""``;
* duplicate item ids in the catalog keep their first row (a warning gives the count);
* every interaction names a catalog item, otherwise a :class:`DataError` lists them
  (with ``drop-bad-rows``, :mod:`fedrec.data.bad_rows`, they are dropped and counted);
* profiles of users without interactions are dropped (a warning gives the count).

Duplicate policy: repeated (user_id, item_id) pairs are collapsed to the earliest
interaction, i.e. the first time the user met the item, with its rating; ties on the
timestamp are broken by file (row) order. The number of dropped rows is logged.

The returned interactions are sorted by (user_id, timestamp), stably, so events of
one user with equal timestamps keep their file order. The input is never mutated.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from fedrec.data.bad_rows import BadRows
from fedrec.data.schema import INTERACTION_COLUMNS, ITEM_COLUMNS, PROFILE_COLUMNS, RecDataset
from fedrec.errors import DataError

logger = logging.getLogger(__name__)

_MAX_LISTED = 5


def validate_dataset(
    ds: RecDataset,
    *,
    source: str,
    unknown_items_fix: str | None = None,
    bad_rows: BadRows | None = None,
) -> RecDataset:
    """Check and normalise ``ds``; return a new, clean :class:`RecDataset`.

    Args:
        ds: the tables a loader built (left untouched).
        source: where the tables came from (a file or folder), quoted in every error.
        unknown_items_fix: the fix to suggest when interactions name items missing
            from the catalog; a generic one is used when ``None``.
        bad_rows: whether interactions of unknown items stop loading (the default) or
            are dropped and counted.

    Raises:
        DataError: a missing column, a value that cannot be coerced, an empty table,
            or interactions naming unknown items.
    """
    items = _clean_items(ds.items, source)
    interactions = _clean_interactions(ds.interactions, source)
    interactions = _known_items_only(
        interactions, items, source, unknown_items_fix, bad_rows or BadRows()
    )
    profiles = None if ds.profiles is None else _clean_profiles(ds.profiles, interactions, source)
    return RecDataset(name=ds.name, items=items, interactions=interactions, profiles=profiles)


def _require_columns(df: pd.DataFrame, required: tuple[str, ...], table: str, source: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: the {table} table has no column {missing[0]!r} "
            f"(columns found: {list(map(str, df.columns))}). Fix: the loader or the column "
            f"mapping must provide {', '.join(repr(c) for c in required)}."
        )


def _nothing_left(table: str, source: str) -> DataError:
    return DataError(
        f"{source}: nothing left in the {table} table (it has no rows). Fix: check that "
        f"the file is the right one and not empty, and that filters did not remove every row."
    )


def _as_id(values: pd.Series, column: str, table: str, source: str) -> pd.Series:
    """Ids as strings; integral floats (an artefact of NaN-holding columns) lose '.0',
    whether stored as numbers or, in a text file, written as such ('1.0' for 1)."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    ids = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    written = ids[ids != ""]
    if len(written) and written.str.fullmatch(r"-?\d+\.0+").all():
        ids = ids.str.replace(r"\.0+$", "", regex=True)
    if (ids == "").any():
        row = int(np.flatnonzero((ids == "").to_numpy())[0])
        raise DataError(
            f"{source}: row {row} of the {table} table has an empty {column!r}. "
            f"Fix: give every row a {column}, or drop the incomplete rows."
        )
    return ids


def _as_timestamp(values: pd.Series, source: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise _bad_value("timestamp", row, "an empty date", source, "a date or an integer")
        return epoch_seconds(values).astype("int64")
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | (numbers % 1 != 0) | ~(numbers.abs() < MAX_TIMESTAMP)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise _bad_value("timestamp", row, values.iloc[row], source, "an integer below 2^62")
    return numbers.astype("int64")


_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
#: Timestamps are whole numbers below this in size (int64, with room to subtract).
MAX_TIMESTAMP = 2**62


def epoch_seconds(dates: pd.Series) -> pd.Series:
    """Whole seconds since the epoch of a datetime column (NaN where NaT), counted in the
    column's own unit: a date far from 1970 (9999-12-31, a common "never") does not fit
    in nanoseconds."""
    ticks = np.asarray(dates.array.asi8, dtype=np.int64)
    seconds = (ticks // _PER_SECOND[dates.dt.unit]).astype(np.float64)
    return pd.Series(np.where(dates.isna().to_numpy(), np.nan, seconds), index=dates.index)


def _as_rating(values: pd.Series, source: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    blank = values.isna() | (values.astype(str).str.strip() == "")
    bad = numbers.isna() & ~blank
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise _bad_value("rating", row, values.iloc[row], source, "a number or empty")
    return numbers.astype("float64")


def _bad_value(column: str, row: int, value: object, source: str, wanted: str) -> DataError:
    return DataError(
        f"{source}: column {column!r} of the interactions table cannot be read as "
        f"{wanted}: row {row} holds {value!r}. Fix: correct or drop that row, or map "
        f"{column!r} to the right column."
    )


def _text(values: pd.Series) -> pd.Series:
    """Free text as stripped strings, with missing values as ``""``."""
    return values.astype(object).where(values.notna(), "").astype(str).str.strip()


def _clean_items(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    _require_columns(raw, ITEM_COLUMNS, "items", source)
    if raw.empty:
        raise _nothing_left("items", source)
    raw = raw.reset_index(drop=True)
    items = pd.DataFrame({"item_id": _as_id(raw["item_id"], "item_id", "items", source)})
    titles = _text(raw["title"])
    items["title"] = titles.where(titles != "", items["item_id"])
    items["attributes"] = _text(raw["attributes"])
    scenario = _text(raw["scenario"])
    if (scenario == "").any():
        row = int(np.flatnonzero((scenario == "").to_numpy())[0])
        raise DataError(
            f"{source}: item {items['item_id'].iloc[row]!r} has an empty scenario "
            f"({int((scenario == '').sum())} items have none). Fix: give every item a "
            "scenario, or use one scenario for all: leave 'scenario' out of the column "
            "mapping (a CSV or Parquet file), or set scenario-field = none (MovieLens, Amazon)."
        )
    items["scenario"] = scenario
    duplicated = items["item_id"].duplicated(keep="first")
    if duplicated.any():
        logger.warning(
            "%s: %d duplicate item ids in the catalog; keeping the first row of each (e.g. %r).",
            source,
            int(duplicated.sum()),
            items.loc[duplicated, "item_id"].iloc[0],
        )
        items = items[~duplicated]
    return items.reset_index(drop=True)


def _clean_interactions(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    _require_columns(raw, INTERACTION_COLUMNS[:3], "interactions", source)
    if raw.empty:
        raise _nothing_left("interactions", source)
    raw = raw.reset_index(drop=True)
    rating = raw["rating"] if "rating" in raw.columns else pd.Series(np.nan, index=raw.index)
    frame = pd.DataFrame(
        {
            "user_id": _as_id(raw["user_id"], "user_id", "interactions", source),
            "item_id": _as_id(raw["item_id"], "item_id", "interactions", source),
            "timestamp": _as_timestamp(raw["timestamp"], source),
            "rating": _as_rating(rating, source),
        }
    )
    # Two stable single-key sorts give a stable (user_id, timestamp) order.
    frame = frame.sort_values("timestamp", kind="stable").sort_values("user_id", kind="stable")
    repeated = frame.duplicated(subset=["user_id", "item_id"], keep="first")
    if repeated.any():
        logger.warning(
            "%s: %d repeated (user, item) interactions collapsed to the earliest one.",
            source,
            int(repeated.sum()),
        )
        frame = frame[~repeated]
    return frame.reset_index(drop=True)


def _known_items_only(
    interactions: pd.DataFrame, items: pd.DataFrame, source: str, fix: str | None, bad: BadRows
) -> pd.DataFrame:
    known = interactions["item_id"].isin(items["item_id"].unique())
    if known.all():
        return interactions
    unknown = pd.unique(interactions.loc[~known, "item_id"])
    listed = ", ".join(repr(i) for i in unknown[:_MAX_LISTED])
    more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
    error = DataError(
        f"{source}: {len(unknown)} item ids in the interactions are not in the item "
        f"catalog ({(~known).sum()} interactions): {listed}{more}. Fix: "
        + (fix or "add them to the item file or drop those interactions.")
    )
    bad.reject(error, source=f"{source} (items not in the catalog)", count=int((~known).sum()))
    kept = interactions[known].reset_index(drop=True)
    if kept.empty:
        raise _nothing_left("interactions", source)
    return kept


def _clean_profiles(raw: pd.DataFrame, interactions: pd.DataFrame, source: str) -> pd.DataFrame:
    _require_columns(raw, PROFILE_COLUMNS, "profiles", source)
    raw = raw.reset_index(drop=True)
    profiles = pd.DataFrame(
        {
            "user_id": _as_id(raw["user_id"], "user_id", "profiles", source),
            "profile": _text(raw["profile"]),
        }
    )
    keep = profiles["user_id"].isin(interactions["user_id"].unique())
    if not keep.all():
        logger.warning(
            "%s: dropped %d profiles of users without interactions.", source, int((~keep).sum())
        )
    profiles = profiles[keep]
    repeated = profiles["user_id"].duplicated(keep="first")
    if repeated.any():
        logger.warning("%s: %d duplicate profiles; keeping the first.", source, int(repeated.sum()))
        profiles = profiles[~repeated]
    return profiles.reset_index(drop=True)
