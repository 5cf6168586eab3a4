"""Tests of the generic CSV/TSV/Parquet loader."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedrec.data.tabular import load_tabular
from fedrec.errors import ConfigError, DataError

MAPPING = {"user_id": "uid", "item_id": "sku", "timestamp": "when", "rating": "stars"}
MAPPING_NO_RATING = {"user_id": "uid", "item_id": "sku", "timestamp": "when"}


def _write(file: Path, rows: dict[str, list[object]]) -> Path:
    frame = pd.DataFrame(rows)
    if file.suffix in (".parquet", ".pq"):
        frame.to_parquet(file)
    else:
        frame.to_csv(file, index=False, sep="\t" if file.suffix == ".tsv" else ",")
    return file


def _log(file: Path) -> Path:
    return _write(
        file,
        {
            "uid": ["u1", "u1", "u2"],
            "sku": ["a", "b", "a"],
            "when": [30, 10, 20],
            "stars": [4, 5, None],
            "name": ["Apple", "Banana", "Apple"],
            "colour": ["red", "yellow", "red"],
            "shape": ["round", "long", "round"],
        },
    )


@pytest.mark.parametrize("name", ["log.csv", "log.tsv", "log.parquet", "log.pq"])
def test_reads_by_suffix(tmp_path: Path, name: str) -> None:
    ds = load_tabular(_log(tmp_path / name), columns={**MAPPING, "title": "name"})
    inter = ds.interactions
    assert inter[["user_id", "item_id", "timestamp"]].values.tolist() == [
        ["u1", "b", 10],
        ["u1", "a", 30],
        ["u2", "a", 20],
    ]
    assert inter["rating"].isna().tolist() == [False, False, True]
    assert ds.items[["item_id", "title", "scenario"]].values.tolist() == [
        ["a", "Apple", "default"],
        ["b", "Banana", "default"],
    ]
    assert ds.name == "log"


def test_attribute_columns_are_labelled(tmp_path: Path) -> None:
    file = _log(tmp_path / "log.csv")
    ds = load_tabular(file, columns={**MAPPING, "attributes": "colour, shape"})
    assert ds.items["attributes"].tolist() == [
        "colour: red. shape: round",
        "colour: yellow. shape: long",
    ]
    assert ds.items["title"].tolist() == ["a", "b"]  # no title column: the id
    single = load_tabular(file, columns={**MAPPING, "attributes": "colour"})
    assert single.items["attributes"].tolist() == ["red", "yellow"]


def test_iso_dates_and_file_order(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "log.csv",
        {
            "uid": ["u", "u", "v"],
            "sku": ["a", "b", "a"],
            "when": ["2021-01-02", "2021-01-01T12:00:00Z", "1970-01-01T00:01:00+00:00"],
        },
    )
    ds = load_tabular(file, columns={"user_id": "uid", "item_id": "sku", "timestamp": "when"})
    assert ds.interactions["timestamp"].tolist() == [1609502400, 1609545600, 60]
    ordered = load_tabular(file, columns={"user_id": "uid", "item_id": "sku"})
    assert ordered.interactions["timestamp"].tolist() == [0, 1, 0]


def test_bad_date_names_line(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "log.csv",
        {"uid": ["u", "u"], "sku": ["a", "b"], "when": ["2021-01-02", "yesterday"]},
    )
    with pytest.raises(DataError, match=r"log.csv, line 3: column 'when' holds 'yesterday'"):
        load_tabular(file, columns={"user_id": "uid", "item_id": "sku", "timestamp": "when"})


def test_items_file_and_scenarios(tmp_path: Path) -> None:
    log = _log(tmp_path / "log.csv")
    items = _write(
        tmp_path / "items.parquet",
        {
            "sku": ["a", "b", "c"],
            "name": ["Apple", "Banana", "Cherry"],
            "aisle": ["fruit", None, "fruit"],
        },
    )
    columns = {**MAPPING, "title": "name", "scenario": "aisle"}
    ds = load_tabular(log, columns=columns, items_path=items, scenario="misc")
    assert ds.items["item_id"].tolist() == ["a", "b", "c"]  # unrated items stay
    assert ds.items["scenario"].tolist() == ["fruit", "misc", "fruit"]
    with pytest.raises(DataError, match=r"empty scenario"):
        load_tabular(log, columns=columns, items_path=items)


def test_unknown_item_in_items_file(tmp_path: Path) -> None:
    log = _log(tmp_path / "log.csv")
    items = _write(tmp_path / "items.csv", {"sku": ["a"]})
    with pytest.raises(DataError, match=r"'b'.*add them to the item file"):
        load_tabular(log, columns=MAPPING, items_path=items)


def test_unknown_mapping_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'user'.*user_id, item_id"):
        load_tabular(tmp_path / "x.csv", columns={"user": "uid", "item_id": "sku"})
    with pytest.raises(ConfigError, match=r"no 'item_id'"):
        load_tabular(tmp_path / "x.csv", columns={"user_id": "uid"})


def test_missing_column_lists_file_columns(tmp_path: Path) -> None:
    file = _log(tmp_path / "log.csv")
    with pytest.raises(DataError) as err:
        load_tabular(file, columns={**MAPPING, "timestamp": "time"})
    text = str(err.value)
    assert "'time'" in text and str(file) in text and "'uid', 'sku', 'when'" in text


def test_bad_rating_and_empty_id(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "log.csv", {"uid": ["u", None], "sku": ["a", "b"], "stars": ["4", "x"]}
    )
    with pytest.raises(DataError, match=r"line 3: column 'uid' is empty"):
        load_tabular(file, columns={"user_id": "uid", "item_id": "sku"})
    with pytest.raises(DataError, match=r"line 3: column 'stars' holds 'x'"):
        load_tabular(file, columns={"user_id": "sku", "item_id": "sku", "rating": "stars"})


def test_missing_or_unsupported_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist"):
        load_tabular(tmp_path / "nope.csv", columns=MAPPING)
    with pytest.raises(DataError, match=r"unknown table suffix '.xlsx'"):
        load_tabular(tmp_path / "log.xlsx", columns=MAPPING)


def test_malformed_csv_is_a_data_error(tmp_path: Path) -> None:
    file = tmp_path / "log.csv"
    file.write_text("uid,sku\nu,a\nu,b,extra,cells\n")
    with pytest.raises(DataError, match=r"log.csv: cannot read the table.*line 3"):
        load_tabular(file, columns={"user_id": "uid", "item_id": "sku"})


def test_bad_rows_can_be_dropped_and_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = _write(
        tmp_path / "log.csv",
        {
            "uid": ["u1", None, "u2", "u2", "u3", "u3"],
            "sku": ["a", "b", "a", "b", "zz", "b"],
            "when": [30, 10, "soon", 20, 5, 6],
            "stars": [4, 5, 1, "many", 2, 3],
        },
    )
    items = _write(tmp_path / "items.csv", {"sku": ["a", "b"]})
    with pytest.raises(DataError, match=r"line 3: column 'uid' is empty.*drop-bad-rows"):
        load_tabular(file, columns=MAPPING, items_path=items)
    with caplog.at_level("WARNING"):
        ds = load_tabular(file, columns=MAPPING, items_path=items, drop_bad_rows=True)
    kept = ds.interactions[["user_id", "item_id", "timestamp", "rating"]]
    assert kept.values.tolist() == [["u1", "a", 30, 4.0], ["u3", "b", 6, 3.0]]
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert "log.csv: dropped 3 row(s) that cannot be used" in warnings  # rows 2-4
    assert re.search(r"log.csv \(items not in the catalog\): dropped 1 row\(s\).*'zz'", warnings)


def test_a_word_among_integer_timestamps_is_named_on_its_own_line(tmp_path: Path) -> None:
    rows = {"uid": ["u", "u", "v"], "sku": ["a", "b", "a"], "when": [30, "soon", 20]}
    file = _write(tmp_path / "log.csv", rows)
    with pytest.raises(DataError, match=r"line 3: column 'when' holds 'soon'"):
        load_tabular(file, columns={"user_id": "uid", "item_id": "sku", "timestamp": "when"})


def test_timestamps_are_checked_and_parsed_as_one_kind(tmp_path: Path) -> None:
    columns = {"user_id": "uid", "item_id": "sku", "timestamp": "when"}
    rows = {"uid": ["u", "u", "u", "v"], "sku": ["a", "b", "c", "a"]}
    when = ["2021-01-01", "x", "2021-01-02", "2021"]  # "2021" is a number and a date
    dates = _write(tmp_path / "dates.csv", {**rows, "when": when})
    with pytest.raises(DataError, match=r"line 3: column 'when' holds 'x', not an ISO 8601 date"):
        load_tabular(dates, columns=columns)
    kept = load_tabular(dates, columns=columns, drop_bad_rows=True).interactions
    assert kept["timestamp"].tolist() == [1609459200, 1609545600, 1609459200]  # all dates
    table = pd.DataFrame({**rows, "when": [1.0, np.nan, 2.5, 3.0]})
    table.to_parquet(tmp_path / "log.parquet")
    with pytest.raises(DataError, match=r"row 1: column 'when' is empty, not a whole number"):
        load_tabular(tmp_path / "log.parquet", columns=columns)
    kept = load_tabular(tmp_path / "log.parquet", columns=columns, drop_bad_rows=True)
    assert kept.interactions["timestamp"].tolist() == [1, 3]


def test_dropped_rows_add_nothing_to_the_catalog(tmp_path: Path) -> None:
    rows = {"uid": ["u", "u", None], "sku": ["a", "b", "ghost"], "when": [1, 2, 3]}
    file = _write(tmp_path / "log.csv", rows)
    columns = {"user_id": "uid", "item_id": "sku", "timestamp": "when"}
    ds = load_tabular(file, columns=columns, drop_bad_rows=True)
    assert ds.items["item_id"].tolist() == ["a", "b"]


def test_a_header_alone_leaves_nothing_either_way(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text("uid,sku,when\n")
    for drop in (False, True):
        with pytest.raises(DataError, match=r"nothing left"):
            load_tabular(tmp_path / "log.csv", columns=MAPPING_NO_RATING, drop_bad_rows=drop)


def test_a_latin1_file_is_named_with_the_way_to_convert_it(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_bytes("uid,sku,when\nu,café,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"log.csv: not UTF-8 text .*b'\\xe9'.*iconv"):
        load_tabular(tmp_path / "log.csv", columns=MAPPING_NO_RATING)
