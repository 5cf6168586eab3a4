"""Tests of the schema enforcement every loader goes through."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from fedrec.data.schema import RecDataset
from fedrec.data.validate import validate_dataset
from fedrec.errors import DataError


def _items(ids: list[object]) -> pd.DataFrame:
    return pd.DataFrame(
        {"item_id": ids, "title": [f"T{i}" for i in ids], "attributes": "", "scenario": "s"}
    )


def _dataset(
    interactions: dict[str, list[object]],
    items: pd.DataFrame | None = None,
    profiles: pd.DataFrame | None = None,
) -> RecDataset:
    return RecDataset(
        name="t",
        items=_items(["a", "b", "c"]) if items is None else items,
        interactions=pd.DataFrame(interactions),
        profiles=profiles,
    )


def test_coerces_dtypes_and_sorts_by_user_then_time() -> None:
    items = _items([1, 2, 3])
    ds = _dataset(
        {
            "user_id": [2, 1, 1],
            "item_id": [1.0, 3.0, 2.0],
            "timestamp": ["5", "9", "3"],
            "rating": ["4", "", None],
        },
        items=items,
    )
    out = validate_dataset(ds, source="mem")
    inter = out.interactions
    assert inter["user_id"].tolist() == ["1", "1", "2"]
    assert inter["item_id"].tolist() == ["2", "3", "1"]  # integral floats lose ".0"
    assert inter["timestamp"].tolist() == [3, 9, 5]
    assert inter["timestamp"].dtype == np.int64
    assert inter["rating"].dtype == np.float64
    assert inter["rating"].isna().tolist() == [True, True, False]
    assert out.items["item_id"].tolist() == ["1", "2", "3"]
    assert list(inter.index) == [0, 1, 2]


def test_missing_rating_column_becomes_nan() -> None:
    ds = _dataset({"user_id": ["u"], "item_id": ["a"], "timestamp": [1]})
    assert validate_dataset(ds, source="mem").interactions["rating"].isna().all()


def test_datetime_timestamps_become_epoch_seconds() -> None:
    stamps = pd.to_datetime(["1970-01-01T00:01:00Z", "2000-01-01T00:00:00Z"])
    ds = _dataset({"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": stamps})
    out = validate_dataset(ds, source="mem").interactions
    assert out["timestamp"].tolist() == [60, 946684800]


def test_input_is_not_mutated() -> None:
    ds = _dataset({"user_id": [2, 1], "item_id": ["a", "b"], "timestamp": [2, 1]})
    before_inter, before_items = ds.interactions.copy(), ds.items.copy()
    validate_dataset(ds, source="mem")
    pd.testing.assert_frame_equal(ds.interactions, before_inter)
    pd.testing.assert_frame_equal(ds.items, before_items)


def test_missing_column_names_table_and_column() -> None:
    ds = _dataset({"user_id": ["u"], "item_id": ["a"]})
    with pytest.raises(
        DataError, match=r"src.csv: the interactions table has no column 'timestamp'"
    ):
        validate_dataset(ds, source="src.csv")
    bad_items = _items(["a"]).drop(columns="scenario")
    with pytest.raises(DataError, match=r"items table has no column 'scenario'"):
        validate_dataset(
            _dataset({"user_id": ["u"], "item_id": ["a"], "timestamp": [1]}, items=bad_items),
            source="x",
        )


def test_uncoercible_timestamp_names_column_and_value() -> None:
    ds = _dataset({"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": [1, "soon"]})
    with pytest.raises(DataError, match=r"'timestamp'.*row 1 holds 'soon'"):
        validate_dataset(ds, source="mem")


def test_uncoercible_rating_names_value() -> None:
    ds = _dataset({"user_id": ["u"], "item_id": ["a"], "timestamp": [1], "rating": ["five"]})
    with pytest.raises(DataError, match=r"'rating'.*'five'"):
        validate_dataset(ds, source="mem")


@pytest.mark.parametrize("empty", [None, "  "])
def test_empty_id_is_an_error(empty: str | None) -> None:
    ds = _dataset({"user_id": ["u", empty], "item_id": ["a", "b"], "timestamp": [1, 2]})
    with pytest.raises(DataError, match=r"row 1 of the interactions table has an empty 'user_id'"):
        validate_dataset(ds, source="mem")


def test_empty_title_is_filled_from_item_id() -> None:
    items = _items(["a", "b"])
    items.loc[0, "title"] = ""
    items.loc[1, "title"] = None
    ds = _dataset({"user_id": ["u"], "item_id": ["a"], "timestamp": [1]}, items=items)
    assert validate_dataset(ds, source="mem").items["title"].tolist() == ["a", "b"]


@pytest.mark.parametrize("table", ["items", "interactions"])
def test_empty_tables_leave_nothing(table: str) -> None:
    ds = _dataset({"user_id": ["u"], "item_id": ["a"], "timestamp": [1]})
    empty = getattr(ds, table).iloc[0:0]
    ds = RecDataset(
        name="t",
        items=empty if table == "items" else ds.items,
        interactions=empty if table == "interactions" else ds.interactions,
    )
    with pytest.raises(DataError, match=rf"nothing left in the {table} table.*Fix:"):
        validate_dataset(ds, source="mem")


def test_duplicate_item_ids_keep_first_and_warn(caplog: pytest.LogCaptureFixture) -> None:
    items = _items(["a", "b", "a", "a"])
    items["title"] = ["first", "b", "second", "third"]
    ds = _dataset({"user_id": ["u"], "item_id": ["a"], "timestamp": [1]}, items=items)
    with caplog.at_level(logging.WARNING):
        out = validate_dataset(ds, source="mem")
    assert out.items["item_id"].tolist() == ["a", "b"]
    assert out.items["title"].tolist() == ["first", "b"]
    assert "2 duplicate item ids" in caplog.text


def test_unknown_items_listed_with_count_and_fix() -> None:
    ids = ["x1", "x2", "x3", "x4", "x5", "x6", "x7"]
    ds = _dataset({"user_id": ["u"] * 8, "item_id": ["a", *ids], "timestamp": range(8)})
    with pytest.raises(DataError) as err:
        validate_dataset(ds, source="data.csv")
    text = str(err.value)
    assert "7 item ids" in text and "'x1'" in text and "'x5'" in text and "'x6'" not in text
    assert "and 2 more" in text and "add them to the item file or drop" in text
    with pytest.raises(DataError, match="pass the meta file"):
        validate_dataset(ds, source="data.csv", unknown_items_fix="pass the meta file.")


def test_duplicate_pairs_collapse_to_earliest(caplog: pytest.LogCaptureFixture) -> None:
    """The duplicate policy: the first time the user met the item wins, with its rating."""
    ds = _dataset(
        {
            "user_id": ["u", "u", "u", "v"],
            "item_id": ["a", "a", "b", "a"],
            "timestamp": [50, 10, 30, 70],
            "rating": [1.0, 5.0, 3.0, 2.0],
        }
    )
    with caplog.at_level(logging.WARNING):
        out = validate_dataset(ds, source="mem").interactions
    assert out[["user_id", "item_id", "timestamp", "rating"]].values.tolist() == [
        ["u", "a", 10, 5.0],
        ["u", "b", 30, 3.0],
        ["v", "a", 70, 2.0],
    ]
    assert "1 repeated (user, item) interactions" in caplog.text


def test_duplicate_pairs_tie_broken_by_file_order() -> None:
    ds = _dataset(
        {
            "user_id": ["u", "u", "u"],
            "item_id": ["b", "a", "a"],
            "timestamp": [5, 5, 5],
            "rating": [1.0, 2.0, 3.0],
        }
    )
    out = validate_dataset(ds, source="mem").interactions
    assert out["item_id"].tolist() == ["b", "a"]  # equal times keep file order (stable)
    assert out["rating"].tolist() == [1.0, 2.0]


def test_profiles_of_unknown_users_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    profiles = pd.DataFrame({"user_id": [1, 2], "profile": ["likes a", "ghost"]})
    ds = _dataset({"user_id": ["1"], "item_id": ["a"], "timestamp": [1]}, profiles=profiles)
    with caplog.at_level(logging.WARNING):
        out = validate_dataset(ds, source="mem")
    assert out.profiles is not None
    assert out.profiles["user_id"].tolist() == ["1"]
    assert "dropped 1 profiles" in caplog.text
