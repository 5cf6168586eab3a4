"""Tests of the policy for input rows a loader cannot use, and of its config key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fedrec.config import DataConfig
from fedrec.data.bad_rows import HINT, BadRows
from fedrec.data.loading import load_dataset, load_split
from fedrec.errors import DataError
from tests.data.fixtures import write_ml100k


def test_by_default_a_bad_row_raises_with_the_way_to_drop_it() -> None:
    with pytest.raises(DataError, match=r"line 3 is broken\. Fix: mend it\. Or set drop-bad-rows"):
        BadRows().reject(DataError("line 3 is broken. Fix: mend it."), source="f.csv")


def test_dropping_counts_each_source_once_and_quotes_its_first_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = BadRows(drop=True)
    bad.reject(DataError("a.csv, line 2: first"), source="a.csv")
    bad.reject(DataError("a.csv, line 9: second"), source="a.csv", count=4)
    bad.reject(DataError("b.csv: unknown items"), source="b.csv", count=2)
    with caplog.at_level(logging.WARNING):
        assert bad.report() == {"a.csv": 5, "b.csv": 2}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "a.csv: dropped 5 row(s)" in warnings[0] and "line 2: first" in warnings[0]
    assert "line 9" not in warnings[0]
    assert "b.csv: dropped 2 row(s)" in warnings[1]
    assert bad.report() == {}  # reported once


def test_the_config_key_reaches_the_loader(tmp_path: Path) -> None:
    root = write_ml100k(tmp_path, n_users=4, n_items=6, per_user=3)
    with (root / "u.data").open("a", encoding="latin-1") as fh:
        fh.write("1\t999\t4\t881250949\n")  # a movie u.item does not have
    cfg = {"dataset": "movielens-100k", "data_path": str(root)}
    with pytest.raises(DataError, match=rf"'999'.*{HINT[:20]}"):
        load_dataset(DataConfig(**cfg), seed=0)
    ds = load_dataset(DataConfig(**cfg, drop_bad_rows=True), seed=0)
    assert len(ds.interactions) == 12 and "999" not in set(ds.interactions["item_id"])
    assert ds.dropped_rows == 1 and ds.describe()["dropped_rows"] == 1
    split = load_split(DataConfig(**cfg, drop_bad_rows=True), seed=0)
    assert split.stats["dropped_rows"] == 1  # what every run's summary records


def test_a_failed_load_still_reports_what_it_dropped(caplog: pytest.LogCaptureFixture) -> None:
    def loader(bad: BadRows):
        bad.reject(DataError("x.csv, line 2: bad"), source="x.csv")
        raise DataError("x.csv: nothing left")

    with caplog.at_level(logging.WARNING), pytest.raises(DataError, match="nothing left"):
        BadRows(drop=True).load(loader)
    assert "x.csv: dropped 1 row(s)" in caplog.text
