"""Tests of the Amazon Reviews 2018/2023 loader on tiny files in the original layouts."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from fedrec.data.amazon import load_amazon
from fedrec.errors import ConfigError, DataError
from tests.data.fixtures import write_amazon_2018, write_amazon_2023


def _first_line(file: Path) -> dict[str, object]:
    raw = file.read_bytes()
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    return json.loads(text.decode("utf-8").splitlines()[0])


@pytest.mark.parametrize("zipped", [True, False])
def test_2018_gzip_and_plain(tmp_path: Path, zipped: bool) -> None:
    write_amazon_2018(tmp_path, gzip=zipped, n_users=4, n_items=6, per_user=3)
    ds = load_amazon(tmp_path)
    assert len(ds.interactions) == 12 and len(ds.items) <= 6
    assert ds.scenarios == ["Video Games"]  # main_cat
    first = _first_line(tmp_path / ("Video_Games.json.gz" if zipped else "Video_Games.json"))
    row = ds.interactions[ds.interactions["user_id"] == first["reviewerID"]].iloc[0]
    assert row["timestamp"] == first["unixReviewTime"]  # 2018: already seconds
    attrs = ds.items["attributes"].iloc[0]
    assert attrs.startswith("Brand: Studio ") and "Categories: Video Games" in attrs


def test_2023_detected_and_milliseconds_become_seconds(tmp_path: Path) -> None:
    write_amazon_2023(tmp_path, n_users=4, n_items=6, per_user=3)
    first = _first_line(tmp_path / "Video_Games.jsonl")
    ds = load_amazon(tmp_path)
    row = ds.interactions[
        (ds.interactions["user_id"] == first["user_id"])
        & (ds.interactions["item_id"] == first["parent_asin"])
    ]
    assert row["timestamp"].item() == int(first["timestamp"]) // 1000
    assert set(ds.interactions["item_id"]) <= set(ds.items["item_id"])  # parent_asin ids
    assert ds.items["attributes"].str.startswith("Store: Studio ").all()


def test_2023_gzip(tmp_path: Path) -> None:
    write_amazon_2023(tmp_path, gzip=True, n_users=3, n_items=5, per_user=2)
    assert len(load_amazon(tmp_path).interactions) == 6


def test_several_categories_load_together(tmp_path: Path) -> None:
    write_amazon_2023(tmp_path, category="Video_Games", n_users=3, n_items=4, per_user=2)
    write_amazon_2023(tmp_path, category="All_Beauty", n_users=3, n_items=4, per_user=2, seed=1)
    # Give the beauty files their own ids so the two categories do not overlap.
    for name in ("All_Beauty.jsonl", "meta_All_Beauty.jsonl"):
        file = tmp_path / name
        file.write_text(file.read_text().replace('"B0', '"C0').replace('"AE', '"BE'))
    ds = load_amazon(tmp_path)
    assert ds.scenarios == ["All Beauty", "Video Games"]
    assert len(ds.interactions) == 12
    # One scenario per category file, whatever main_category the meta lines carry.
    meta = tmp_path / "meta_All_Beauty.jsonl"
    lines = [json.loads(line) for line in meta.read_text().splitlines()]
    lines[0]["main_category"] = "Premium Beauty"
    meta.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert load_amazon(tmp_path).scenarios == ["All Beauty", "Premium Beauty", "Video Games"]
    by_file = load_amazon(tmp_path, scenario_field="file")
    assert by_file.scenarios == ["All Beauty", "Video Games"]
    beauty = by_file.items[by_file.items["item_id"].str.startswith("C0")]
    assert set(beauty["scenario"]) == {"All Beauty"}


def test_explicit_files_and_scenario_choices(tmp_path: Path) -> None:
    write_amazon_2018(tmp_path, gzip=False, n_users=3, n_items=5, per_user=2)
    ds = load_amazon(
        tmp_path, reviews="Video_Games.json", meta="meta_Video_Games.json", scenario_field=None
    )
    assert ds.scenarios == ["amazon"]
    ds = load_amazon(tmp_path, scenario_field="brand")
    assert all(s.startswith("Studio ") for s in ds.scenarios)
    with pytest.raises(ConfigError, match="'colour'"):
        load_amazon(tmp_path, scenario_field="colour")


def test_auto_scenario_falls_back_to_first_category(tmp_path: Path) -> None:
    write_amazon_2018(tmp_path, gzip=False, n_users=3, n_items=4, per_user=2)
    meta = tmp_path / "meta_Video_Games.json"
    lines = [json.loads(line) for line in meta.read_text().splitlines()]
    for rec in lines:
        rec["main_cat"] = ""
        rec["category"] = ["Toys"]
    lines[0]["main_cat"] = '<img src="x.png" class="nav-categ-image" alt="AMAZON FASHION"/>'
    meta.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert set(load_amazon(tmp_path).scenarios) <= {"Toys", "AMAZON FASHION"}


def test_python_literal_lines_are_read(tmp_path: Path) -> None:
    write_amazon_2018(tmp_path, gzip=False, n_users=2, n_items=3, per_user=2)
    meta = tmp_path / "meta_Video_Games.json"
    lines = [repr(json.loads(line)) for line in meta.read_text().splitlines()]
    meta.write_text("\n".join(lines) + "\n")
    assert len(load_amazon(tmp_path).items) >= 1


def test_description_is_truncated(tmp_path: Path) -> None:
    write_amazon_2018(tmp_path, gzip=False, n_users=2, n_items=3, per_user=3)
    meta = tmp_path / "meta_Video_Games.json"
    lines = [json.loads(line) for line in meta.read_text().splitlines()]
    for rec in lines:
        rec["description"] = "<b>long</b> " + "word " * 200
    meta.write_text("".join(json.dumps(r) + "\n" for r in lines))
    description = load_amazon(tmp_path).items["attributes"].iloc[0].split("Description: ")[1]
    assert len(description) <= 200 and description.startswith("long word")


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    write_amazon_2023(tmp_path, n_users=2, n_items=3, per_user=2)
    reviews = tmp_path / "Video_Games.jsonl"
    reviews.write_text(reviews.read_text() + "\n{not json\n")
    with pytest.raises(DataError, match=r"Video_Games.jsonl, line 6: not a JSON object"):
        load_amazon(tmp_path)


def test_reviews_without_meta_suggest_the_meta_file(tmp_path: Path) -> None:
    write_amazon_2018(tmp_path, gzip=False, n_users=3, n_items=5, per_user=2)
    meta = tmp_path / "meta_Video_Games.json"
    meta.write_text("".join(meta.read_text().splitlines(keepends=True)[:2]))
    with pytest.raises(DataError, match=r"not in the item catalog.*meta file"):
        load_amazon(tmp_path)


def test_missing_meta_file(tmp_path: Path) -> None:
    write_amazon_2023(tmp_path, n_users=2, n_items=3, per_user=2)
    (tmp_path / "meta_Video_Games.jsonl").unlink()
    with pytest.raises(DataError, match=r"no Amazon meta .* found in .*meta="):
        load_amazon(tmp_path)


def test_mixed_releases_are_rejected(tmp_path: Path) -> None:
    write_amazon_2023(tmp_path / "new", n_users=2, n_items=3, per_user=2)
    write_amazon_2018(tmp_path / "old", gzip=False, n_users=2, n_items=3, per_user=2)
    with pytest.raises(DataError, match=r"is an Amazon 2018 file but the review files are 2023"):
        load_amazon(tmp_path, reviews="new/Video_Games.jsonl", meta="old/meta_Video_Games.json")


def test_unrecognised_keys(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"who": 1}\n')
    (tmp_path / "meta_x.jsonl").write_text('{"asin": "a"}\n')
    with pytest.raises(DataError, match=r"x.jsonl, line 1: cannot tell the Amazon release"):
        load_amazon(tmp_path)


def test_bad_lines_and_reviews_without_meta_can_be_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_amazon_2023(tmp_path, n_users=3, n_items=4, per_user=2)
    clean = load_amazon(tmp_path)
    reviews = tmp_path / "Video_Games.jsonl"
    one = _first_line(reviews)
    extra = [
        "{not json",
        json.dumps({**one, "user_id": "  "}),  # an empty user
        json.dumps({**one, "timestamp": "noon"}),  # not a number
        json.dumps({**one, "user_id": "someone", "parent_asin": "NO-META"}),
    ]
    reviews.write_text(reviews.read_text() + "\n".join(extra) + "\n")
    meta = tmp_path / "meta_Video_Games.jsonl"
    meta.write_text(meta.read_text() + "{broken meta\n")
    with pytest.raises(DataError, match=r"not a JSON object.*drop-bad-rows = true"):
        load_amazon(tmp_path)
    with caplog.at_level("WARNING"):
        ds = load_amazon(tmp_path, drop_bad_rows=True)
    pd.testing.assert_frame_equal(ds.interactions, clean.interactions)
    pd.testing.assert_frame_equal(ds.items, clean.items)
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert "Video_Games.jsonl: dropped 3 row(s)" in warnings  # json, empty user, time
    assert "meta_Video_Games.jsonl: dropped 1 row(s)" in warnings
    assert re.search(r"dropped 1 row\(s\).*'NO-META'", warnings)


def test_dropping_a_stray_first_line_and_a_file_of_bad_reviews(tmp_path: Path) -> None:
    write_amazon_2023(tmp_path, n_users=2, n_items=3, per_user=2)
    clean = load_amazon(tmp_path)
    reviews = tmp_path / "Video_Games.jsonl"
    text = reviews.read_text()
    reviews.write_text('{"rating": 5}\n' + text)  # no key tells the release
    with pytest.raises(DataError, match=r"line 1: cannot tell the Amazon release"):
        load_amazon(tmp_path)
    kept = load_amazon(tmp_path, drop_bad_rows=True)
    pd.testing.assert_frame_equal(kept.interactions, clean.interactions)
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    reviews.write_text("".join(json.dumps({**r, "timestamp": "noon"}) + "\n" for r in lines))
    with pytest.raises(DataError, match=r"nothing left: no review line can be used"):
        load_amazon(tmp_path, drop_bad_rows=True)
