"""Real files are messy: stray quotes, byte order marks, dates far from 1970, numbers
too large for a timestamp, damaged gzip files, ids written as floats. Each loads, or
stops with an error that names the file, the line and the fix; nothing goes silently."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from fedrec.data.amazon import load_amazon
from fedrec.data.movielens import load_movielens
from fedrec.data.tabular import load_tabular
from fedrec.errors import DataError
from tests.data.fixtures import write_amazon_2023, write_ml100k, write_ml_latest_small

COLUMNS = {"user_id": "user", "item_id": "item", "timestamp": "ts", "title": "title"}


def _table(file: Path, rows: list[str], sep: str = ",") -> Path:
    file.write_text("\n".join(r.replace(",", sep) for r in ["user,item,ts,title", *rows]) + "\n")
    return file


@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t")])
def test_a_quote_never_closed_is_named_not_swallowing_rows(tmp_path, suffix, sep):
    rows = [f"u{n // 5},i{n % 5},{100 + n},Title {n}" for n in range(30)]
    rows[7] = 'u1,i2,107,"Weird Al Yankovic'  # the quote runs on...
    rows[20] = 'u4,i0,120,"Heroes" (Bowie album)'  # ...to the next one
    file = _table(tmp_path / f"stray{suffix}", rows, sep)
    with pytest.raises(DataError, match=r"line 9: a quote in column 'title' is never closed"):
        load_tabular(file, columns=COLUMNS)
    ds = load_tabular(file, columns=COLUMNS, drop_bad_rows=True)
    # The row with the stray quote and the 13 it swallowed (the "Heroes" row's start
    # among them) are counted; the other 16 load.
    assert ds.dropped_rows == 14 and len(ds.interactions) == 16


def test_an_error_names_the_files_own_line_past_blank_lines_and_multi_line_values(tmp_path):
    file = tmp_path / "log.csv"
    file.write_text(
        'user,item,ts,title\nu1,a,1,"two\nlines"\n\nu1,b,2,x\n\nu2,a,soon,y\n', encoding="utf-8"
    )
    with pytest.raises(DataError, match=re.escape("log.csv, line 7: column 'ts' holds 'soon'")):
        load_tabular(file, columns=COLUMNS)


@pytest.mark.parametrize("date", ["9999-12-31T00:00:00Z", "0001-01-01", "2300-01-01"])
def test_dates_far_from_1970_load(tmp_path, date):
    rows = ["u1,a,2021-01-01,x", f"u1,b,{date},y", "u2,a,2021-01-02,z"]
    ds = load_tabular(_table(tmp_path / "far.csv", rows), columns=COLUMNS)
    when = pd.Timestamp(date)
    when = when if when.tz is not None else when.tz_localize("UTC")
    assert int(when.timestamp()) in set(ds.interactions["timestamp"])


def test_a_parquet_date_far_from_1970_loads(tmp_path):
    when = pd.Series(pd.to_datetime(["2021-01-01", "9999-12-31"]).as_unit("ms"))
    file = tmp_path / "far.parquet"
    pd.DataFrame({"user": ["u1", "u1"], "item": ["a", "b"], "ts": when}).to_parquet(file)
    ds = load_tabular(file, columns={"user_id": "user", "item_id": "item", "timestamp": "ts"})
    assert sorted(ds.interactions["timestamp"]) == [1609459200, 253402214400]


def test_a_timestamp_too_large_is_a_bad_row_not_a_wrapped_number(tmp_path):
    file = _table(tmp_path / "big.csv", ["u1,a,1,x", "u1,b,1e30,y", "u2,a,3,z"])
    with pytest.raises(DataError, match=r"line 3: column 'ts' holds '1e30', not a whole number"):
        load_tabular(file, columns=COLUMNS)
    ds = load_tabular(file, columns=COLUMNS, drop_bad_rows=True)
    assert sorted(ds.interactions["timestamp"]) == [1, 3] and ds.dropped_rows == 1
    root = write_ml100k(tmp_path)
    lines = (root / "u.data").read_text(encoding="latin-1").splitlines()
    lines[1] = "\t".join([*lines[1].split("\t")[:3], "99999999999999999999"])
    (root / "u.data").write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"line 2: .*timestamp is not a whole number below 2\^62"):
        load_movielens(root, "movielens-100k")


def test_a_damaged_gzip_file_is_named_with_the_fix(tmp_path):
    whole = gzip.compress(b"user,item,ts,title\nu1,a,1,x\nu2,b,2,y\n" * 2000)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut short or damaged.*download or copy it again"):
        load_tabular(cut, columns=COLUMNS)
    base = write_amazon_2023(tmp_path / "amazon", gzip=True)
    reviews = base / "Video_Games.jsonl.gz"
    reviews.write_bytes(reviews.read_bytes()[:-12])
    with pytest.raises(DataError, match=r"Video_Games.jsonl.gz.*download it again"):
        load_amazon(base)


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    base = write_amazon_2023(tmp_path / "amazon")
    plain = load_amazon(base)
    for name in ("Video_Games.jsonl", "meta_Video_Games.jsonl"):
        (base / name).write_bytes(b"\xef\xbb\xbf" + (base / name).read_bytes())
    marked = load_amazon(base)
    pd.testing.assert_frame_equal(marked.interactions, plain.interactions)
    pd.testing.assert_frame_equal(marked.items, plain.items)
    root = write_ml100k(tmp_path / "ml")
    plain = load_movielens(root, "movielens-100k")
    for name in ("u.data", "u.item", "u.user"):
        (root / name).write_bytes(b"\xef\xbb\xbf" + (root / name).read_bytes())
    marked = load_movielens(root, "movielens-100k")
    pd.testing.assert_frame_equal(marked.interactions, plain.interactions)
    pd.testing.assert_frame_equal(marked.items, plain.items)
    pd.testing.assert_frame_equal(marked.profiles, plain.profiles)


def test_a_movies_file_with_a_quote_never_closed_counts_what_it_swallowed(tmp_path):
    root = write_ml_latest_small(tmp_path)
    movies = (root / "movies.csv").read_text(encoding="utf-8").splitlines()
    n = len(movies) - 1
    movies[3] = movies[3].replace(",", ',"', 1)  # line 4's title opens a quote
    (root / "movies.csv").write_text("\n".join(movies) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape("movies.csv, line 4: ")):
        load_movielens(root, "movielens-latest-small")
    ds = load_movielens(root, "movielens-latest-small", drop_bad_rows=True)
    assert len(ds.items) < n and ds.dropped_rows >= n - len(ds.items)


def test_a_bad_byte_is_named_by_its_line(tmp_path):
    root = write_ml_latest_small(tmp_path)
    movies = (root / "movies.csv").read_bytes().split(b"\n")
    movies[-3] = movies[-3] + b"\xe9t\xe9"  # Latin-1 in a UTF-8 file, far past the first chunk
    (root / "movies.csv").write_bytes(b"\n".join(movies))
    line = len(movies) - 2
    with pytest.raises(DataError, match=f"movies.csv, line {line}: not readable as utf-8"):
        load_movielens(root, "movielens-latest-small")


def test_ids_written_as_floats_match_the_same_ids_stored_as_numbers(tmp_path):
    (tmp_path / "inter.csv").write_text("user,item,ts\nu1,1.0,1\nu1,2.0,2\nu2,1.0,3\n")
    pd.DataFrame({"item": [1.0, 2.0], "title": ["one", "two"]}).to_parquet(tmp_path / "items.pq")
    ds = load_tabular(
        tmp_path / "inter.csv",
        columns={"user_id": "user", "item_id": "item", "timestamp": "ts", "title": "title"},
        items_path=tmp_path / "items.pq",
    )
    assert sorted(ds.items["item_id"]) == ["1", "2"]
    assert sorted(set(ds.interactions["item_id"])) == ["1", "2"]


def test_an_empty_scenario_names_a_fix_that_works(tmp_path):
    file = tmp_path / "scen.csv"
    file.write_text("user,item,ts,genre\nu1,a,1,Rock\nu1,b,2,\nu2,a,3,Rock\n")
    columns = {"user_id": "user", "item_id": "item", "timestamp": "ts", "scenario": "genre"}
    with pytest.raises(DataError, match=r"item 'b' has an empty scenario.*leave 'scenario' out"):
        load_tabular(file, columns=columns)
    del columns["scenario"]
    assert len(load_tabular(file, columns=columns).items) == 2


def test_an_amazon_data_path_naming_a_file_names_its_folder(tmp_path):
    base = write_amazon_2023(tmp_path / "amazon")
    with pytest.raises(DataError, match="is a file: point data-path at the folder"):
        load_amazon(base / "Video_Games.jsonl")


def test_a_quoted_value_that_holds_line_breaks_still_loads(tmp_path):
    file = tmp_path / "notes.csv"
    file.write_text(
        'user,item,ts,title\nu1,a,1,"Notes: red, green, blue,\nand yellow, orange, pink"\n'
        "u1,b,2,plain\nu2,a,3,plain\n"
    )
    ds = load_tabular(file, columns=COLUMNS)
    assert len(ds.interactions) == 3 and ds.dropped_rows == 0
    assert ds.items.set_index("item_id").loc["a", "title"].endswith("orange, pink")


def test_an_amazon_timestamp_that_is_not_finite_is_a_bad_row(tmp_path):
    base = write_amazon_2023(tmp_path / "amazon")
    reviews = base / "Video_Games.jsonl"
    lines = reviews.read_text(encoding="utf-8").splitlines()
    lines[1] = re.sub(r'"timestamp": \d+', '"timestamp": Infinity', lines[1])
    reviews.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"Video_Games.jsonl, line 2: bad 'timestamp'"):
        load_amazon(base)
    ds = load_amazon(base, drop_bad_rows=True)
    assert ds.dropped_rows == 1


def test_a_parquet_error_names_the_row_not_the_index_the_file_stored(tmp_path):
    table = pd.DataFrame(
        {"user": ["u1", "u2", "u3"], "item": ["a", "b", None]}, index=[900, 57, 4000]
    )
    table.to_parquet(tmp_path / "rows.parquet")
    with pytest.raises(DataError, match=re.escape("rows.parquet, row 2: column 'item' is empty")):
        load_tabular(tmp_path / "rows.parquet", columns={"user_id": "user", "item_id": "item"})
