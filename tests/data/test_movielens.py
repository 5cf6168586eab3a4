"""Tests of the MovieLens loader on tiny files in the original layouts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedrec.data.movielens import load_movielens
from fedrec.errors import ConfigError, DataError
from tests.data.fixtures import simulate, write_ml1m, write_ml100k, write_ml_latest_small


def test_ml100k_tables(tmp_path: Path) -> None:
    root = write_ml100k(tmp_path, n_users=5, n_items=10, per_user=4)
    ds = load_movielens(root, "movielens-100k")
    assert ds.name == "movielens-100k"
    assert len(ds.interactions) == 20 and len(ds.items) == 10
    assert ds.scenarios == ["movies"]
    first = ds.items.iloc[0]
    year = re.fullmatch(r".+ \((\d{4})\)", first["title"])
    assert year is not None
    assert re.fullmatch(
        rf"Genres: [A-Za-z-]+(, [A-Za-z-]+)?\. Year: {year[1]}", first["attributes"]
    )
    assert ds.profiles is not None and len(ds.profiles) == 5
    assert ds.profiles["profile"].str.match(r"A \d+-year-old (male|female) ").all()


def test_ml100k_reads_latin1_titles(tmp_path: Path) -> None:
    root = write_ml100k(tmp_path, n_users=3, n_items=10, per_user=2)
    ds = load_movielens(root, "movielens-100k")
    assert ds.items.loc[ds.items["item_id"] == "8", "title"].item().startswith("Café")


def test_accepts_parent_folder(tmp_path: Path) -> None:
    write_ml100k(tmp_path, n_users=3, n_items=5, per_user=2)
    assert len(load_movielens(tmp_path, "movielens-100k").interactions) == 6


def test_genre_scenario_is_first_genre(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path, n_users=4, n_items=8, per_user=3)
    ds = load_movielens(root, "movielens-1m", scenario_field="genre")
    first_genres = ds.items["attributes"].str.extract(r"Genres: ([^,.]+)")[0]
    assert (ds.items["scenario"] == first_genres).all()


def test_ml1m_profiles_render_codes(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path, n_users=4, n_items=8, per_user=3)
    (root / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n", "latin-1")
    ds = load_movielens(root, "movielens-1m")
    profiles = dict(zip(ds.profiles["user_id"], ds.profiles["profile"], strict=True))
    assert profiles["1"] == "A female under 18, working as K-12 student (zip 48067)"
    assert profiles["2"] == "A male aged 56 or older, working as self-employed (zip 70072)"


def test_ml1m_bad_age_code_names_line(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path, n_users=2, n_items=4, per_user=2)
    (root / "users.dat").write_text("1::F::1::10::48067\n2::M::30::16::70072\n", "latin-1")
    with pytest.raises(DataError, match=r"users.dat, line 2: .*age code"):
        load_movielens(root, "movielens-1m")


def test_latest_small_quoted_titles_and_no_profiles(tmp_path: Path) -> None:
    write_ml_latest_small(tmp_path, n_users=4, n_items=9, per_user=3)
    ds = load_movielens(tmp_path, "movielens-latest-small", scenario_field="genre")
    assert ds.profiles is None
    titles = dict(zip(ds.items["item_id"], ds.items["title"], strict=True))
    assert titles["3"].startswith("Star 3, The (")
    last = ds.items.set_index("item_id").loc["9"]
    assert last["scenario"] == "unknown" and last["attributes"].startswith("Year: ")
    assert (ds.interactions["rating"] % 0.5 == 0).all()


def test_missing_folder_names_file_and_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_movielens(tmp_path, "movielens-1m")
    text = str(err.value)
    assert "'ratings.dat'" in text and str(tmp_path / "ml-1m") in text
    assert "download option" in text


def test_missing_item_file(tmp_path: Path) -> None:
    root = write_ml100k(tmp_path, n_users=3, n_items=5, per_user=2)
    (root / "u.item").unlink()
    with pytest.raises(DataError, match=rf"'u.item' not found in {root}"):
        load_movielens(root, "movielens-100k")


def test_unparsable_line_names_file_and_line(tmp_path: Path) -> None:
    root = write_ml100k(tmp_path, n_users=3, n_items=5, per_user=2)
    with (root / "u.data").open("a", encoding="latin-1") as fh:
        fh.write("1\t2\tfive\t881250949\n")
    with pytest.raises(DataError, match=r"u.data, line 7: cannot parse .*five.*rating"):
        load_movielens(root, "movielens-100k")


def test_wrong_field_count_names_line(tmp_path: Path) -> None:
    root = write_ml_latest_small(tmp_path, n_users=2, n_items=4, per_user=2)
    with (root / "movies.csv").open("a", encoding="utf-8") as fh:
        fh.write("99,Broken\n")
    with pytest.raises(DataError, match=r"movies.csv, line 6: .*expected 3 fields"):
        load_movielens(root, "movielens-latest-small")


def test_rating_of_unknown_movie_is_reported(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path, n_users=2, n_items=4, per_user=2)
    with (root / "ratings.dat").open("a", encoding="latin-1") as fh:
        fh.write("1::999::3::978300760\n")
    with pytest.raises(DataError, match=r"1 item ids .*'999'"):
        load_movielens(root, "movielens-1m")


def test_repeated_rating_keeps_earliest(tmp_path: Path) -> None:
    root = write_ml100k(tmp_path, n_users=2, n_items=5, per_user=2)
    first = (root / "u.data").read_text("latin-1").splitlines()[0].split("\t")
    with (root / "u.data").open("a", encoding="latin-1") as fh:
        fh.write(f"{first[0]}\t{first[1]}\t1\t{int(first[3]) + 999}\n")
    ds = load_movielens(root, "movielens-100k")
    row = ds.interactions[
        (ds.interactions["user_id"] == first[0]) & (ds.interactions["item_id"] == first[1])
    ]
    assert len(row) == 1 and row["timestamp"].item() == int(first[3])


def test_unknown_variant_and_scenario_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="movielens-100k"):
        load_movielens(tmp_path, "movielens-20m")
    with pytest.raises(ConfigError, match="'genre'"):
        load_movielens(tmp_path, "movielens-100k", scenario_field="year")


def test_fixture_behaviour_is_genre_correlated() -> None:
    world = simulate(n_users=30, n_items=40, per_user=12, seed=0)
    genres = {i: set(g) for i, _, _, g in world.items}
    hits = np.mean([bool(world.liked[u] & genres[i]) for u, i, _, _ in world.events])
    base = np.mean([bool(world.liked[u] & genres[i]) for u in world.liked for i in genres])
    assert hits > base + 0.2  # users pick liked genres far more often than at random


def test_bad_lines_can_be_dropped_and_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_ml100k(tmp_path, n_users=3, n_items=5, per_user=2)
    clean = load_movielens(root, "movielens-100k")
    with (root / "u.data").open("a", encoding="latin-1") as fh:
        fh.write("1\t2\tfive\t881250949\n")  # rating not a number
        fh.write("1\t2\t3\n")  # a field short
        fh.write("2\t3\t4\tyesterday\n")  # timestamp not a number
        fh.write("2\t77\t4\t881250949\n")  # a movie u.item does not have
    users = (root / "u.user").read_text("latin-1").splitlines(keepends=True)
    uid, _, rest = users[0].split("|", 2)
    users[0] = f"{uid}|old|{rest}"  # age not a number: that user's profile goes
    (root / "u.user").write_text("".join(users), encoding="latin-1")
    with pytest.raises(DataError, match=r"line 7: cannot parse .*five.*drop-bad-rows = true"):
        load_movielens(root, "movielens-100k")
    with caplog.at_level("WARNING"):
        ds = load_movielens(root, "movielens-100k", drop_bad_rows=True)
    pd.testing.assert_frame_equal(ds.interactions, clean.interactions)
    assert ds.profiles is not None and sorted(ds.profiles["user_id"]) == sorted(
        set(clean.profiles["user_id"]) - {uid}
    )
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(r"u.data: dropped 3 row\(s\).*line 7", warnings)
    assert re.search(r"ml-100k \(items not in the catalog\): dropped 1 row\(s\).*'77'", warnings)
    assert re.search(r"u.user: dropped 1 row\(s\).*age", warnings)


def test_dropping_every_rating_leaves_nothing(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path, n_users=2, n_items=4, per_user=2)
    (root / "ratings.dat").write_text("1::2::x::3\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"no rating line can be parsed"):
        load_movielens(root, "movielens-1m", drop_bad_rows=True)


@pytest.mark.parametrize(
    ("line", "problem"),
    [(" \t2\t3\t881250949", "an id is empty"), ("1\t2\tinf\t881250949", "rating is not")],
)
def test_a_line_the_fast_reader_would_take_is_still_checked(
    tmp_path: Path, line: str, problem: str
) -> None:
    root = write_ml100k(tmp_path, n_users=3, n_items=5, per_user=2)
    clean = load_movielens(root, "movielens-100k")
    with (root / "u.data").open("a", encoding="latin-1") as fh:
        fh.write(line + "\n")  # the only bad line: the fast path reads the whole file
    with pytest.raises(DataError, match=rf"line 7: .*{problem}"):
        load_movielens(root, "movielens-100k")
    kept = load_movielens(root, "movielens-100k", drop_bad_rows=True)
    pd.testing.assert_frame_equal(kept.interactions, clean.interactions)
