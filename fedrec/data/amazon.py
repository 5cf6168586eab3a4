"""Loader for the Amazon Reviews dumps of the McAuley lab (2018 and 2023 releases).

Review and meta files hold one JSON object per line (plain or gzip, detected by the
magic bytes; the Python-literal dicts of some old dumps are read as well). The release
is detected from the keys of the first non-empty line:

* 2018: reviews ``reviewerID, asin, overall, unixReviewTime`` (seconds); meta ``asin,
  title, category, main_cat, brand, description``;
* 2023: reviews ``user_id, parent_asin`` (or ``asin``), ``rating, timestamp``
  (milliseconds, converted to seconds); meta ``parent_asin, title, main_category,
  categories, features, description, store``.

Only meta rows of reviewed items are kept (a category's meta file lists far more
products than its reviews touch). Attributes hold the brand (2018) or store (2023), the
categories and a description cut to 200 characters.
"""

from __future__ import annotations

import ast
import gzip
import html
import json
import math
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from fedrec.data.bad_rows import BadRows
from fedrec.data.schema import RecDataset
from fedrec.data.validate import MAX_TIMESTAMP, validate_dataset
from fedrec.errors import ConfigError, DataError
from fedrec.files import undecodable_line

SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
DEFAULT_SCENARIO = "amazon"
MAX_DESCRIPTION = 200
# release -> (user, item, timestamp, rating) keys of a review line, and the meta id key
_REVIEW_KEYS = {
    "2018": ("reviewerID", "asin", "unixReviewTime", "overall"),
    "2023": ("user_id", "parent_asin", "timestamp", "rating"),
}
_META_ID = {"2018": "asin", "2023": "parent_asin"}
_IMG_ALT = re.compile(r'alt="([^"]*)"')
_TAG = re.compile(r"<[^>]+>")


def load_amazon(
    path: str | Path,
    *,
    reviews: str | Path | None = None,
    meta: str | Path | None = None,
    scenario_field: str | None = "auto",
    drop_bad_rows: bool = False,
) -> RecDataset:
    """Load Amazon reviews and their item metadata.

    Args:
        path: the folder holding the files.
        reviews: a review file (relative to ``path`` or absolute); ``None`` loads every
            ``*.json[l][.gz]`` file of ``path`` not starting with ``meta_``.
        meta: a meta file; ``None`` loads every ``meta_*`` file of ``path``.
        scenario_field: ``"auto"`` (2023: ``main_category``; 2018: ``main_cat``; else the
            first category), ``"file"`` (one scenario per category file: ``meta_All_Beauty``
            gives ``"All Beauty"``), ``None`` (one scenario ``"amazon"``) or a meta key
            whose value (or first list element) names the scenario. Empty values fall back
            to ``"amazon"``.
        drop_bad_rows: drop review and meta lines that cannot be read and reviews of
            items without a meta line, counted in a warning, instead of raising
            (:mod:`fedrec.data.bad_rows`).

    Raises:
        DataError: a missing file, an unreadable line (file and line named), review and
            meta files of different releases, or reviews of items absent from the meta.
        ConfigError: a ``scenario_field`` that no meta line has.
    """
    base = Path(path)
    review_files = [base / reviews] if reviews is not None else _discover(base, meta=False)
    meta_files = [base / meta] if meta is not None else _discover(base, meta=True)
    return BadRows(drop_bad_rows).load(
        lambda bad: _load(review_files, meta_files, scenario_field, bad)
    )


def _load(
    review_files: list[Path], meta_files: list[Path], scenario_field: str | None, bad: BadRows
) -> RecDataset:
    release, interactions = _read_reviews(review_files, bad)
    items = _read_meta(meta_files, release, set(interactions["item_id"]), scenario_field, bad)
    ds = RecDataset(name="amazon", items=items, interactions=interactions)
    fix = (
        "pass the meta file matching these reviews (meta_<Category>.json.gz for 2018, "
        "meta_<Category>.jsonl for 2023) with meta=..., or put one meta_ file per review "
        "category next to the reviews and leave meta unset."
    )
    source = ", ".join(str(f) for f in review_files)
    return validate_dataset(ds, source=source, unknown_items_fix=fix, bad_rows=bad)


def _discover(base: Path, *, meta: bool) -> list[Path]:
    if base.is_file():
        raise DataError(
            f"Amazon data-path {base} is a file: point data-path at the folder holding it "
            f"({base.parent}) and its meta_ file."
        )
    if not base.is_dir():
        raise DataError(
            f"Amazon data folder {base} does not exist. Fix: point data-path at the folder "
            f"holding the review and meta_ files, or pass both files explicitly."
        )
    found = sorted(
        f
        for f in base.iterdir()
        if f.is_file() and f.name.endswith(SUFFIXES) and f.name.startswith("meta_") == meta
    )
    if not found:
        kind = "meta (meta_*.json[l][.gz])" if meta else "review (*.json[l][.gz])"
        raise DataError(
            f"no Amazon {kind} file found in {base}. Fix: download it from the Amazon "
            f"Reviews site next to the other file, or pass {'meta' if meta else 'reviews'}=..."
        )
    return found


def _records(file: Path, bad: BadRows) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line number, object) for every non-blank line of ``file`` that
    holds one (the others are refused: ``bad``)."""
    if not file.is_file():
        raise DataError(f"Amazon file {file} does not exist. Fix: check the file name and path.")
    with file.open("rb") as probe:
        zipped = probe.read(2) == b"\x1f\x8b"
    lineno = 0
    try:
        with (
            gzip.open(file, "rt", encoding="utf-8-sig")
            if zipped
            else file.open(encoding="utf-8-sig")
        ) as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = _parse(line, file, lineno)
                except DataError as err:
                    bad.reject(err, source=str(file))
                    continue
                yield lineno, record
    except UnicodeDecodeError as err:  # its position counts from the chunk being decoded
        line = _undecodable_line(file, zipped, lineno + 1)
        raise DataError(
            f"{file}, line {line}: not UTF-8 text ({err.reason}). Fix: download it again."
        ) from err
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{file}, line {lineno + 1}: cannot read the file ({err}). Fix: download it "
            f"again; a gzip file may be truncated."
        ) from err


def _undecodable_line(file: Path, zipped: bool, reached: int) -> int:
    """The line holding the first byte of ``file`` that is not UTF-8 (``reached``, where
    the reader stopped, if the file is also cut short)."""
    try:
        with gzip.open(file, "rb") if zipped else file.open("rb") as fh:
            return undecodable_line(fh, "utf-8") or reached
    except (OSError, EOFError, zlib.error):
        return reached


def _parse(line: str, file: Path, lineno: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        try:  # old dumps hold Python-literal dicts ({'asin': ...})
            record = ast.literal_eval(line.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise DataError(
                f"{file}, line {lineno}: not a JSON object ({err.msg}, column {err.colno}): "
                f"{line.strip()[:120]!r}. Fix: correct or delete that line, or download the "
                f"file again."
            ) from err
    if not isinstance(record, dict):
        raise DataError(
            f"{file}, line {lineno}: expected a JSON object, found {type(record).__name__}. "
            f"Fix: use an Amazon Reviews file (one object per line)."
        )
    return record


def _release(keys: dict[str, Any], file: Path, lineno: int, *, meta: bool) -> str:
    if meta:
        release = "2023" if "parent_asin" in keys else "2018" if "asin" in keys else None
    else:
        release = "2018" if "reviewerID" in keys else "2023" if "user_id" in keys else None
    if release is None:
        wanted = "asin or parent_asin" if meta else "reviewerID (2018) or user_id (2023)"
        raise DataError(
            f"{file}, line {lineno}: cannot tell the Amazon release: keys {sorted(keys)[:10]} "
            f"hold no {wanted}. Fix: pass an Amazon Reviews 2018 or 2023 "
            f"{'meta' if meta else 'review'} file."
        )
    return release


def _read_reviews(files: list[Path], bad: BadRows) -> tuple[str, pd.DataFrame]:
    rows: list[tuple[str, str, int, float]] = []
    release: str | None = None
    for file in files:
        file_release = None
        for lineno, rec in _records(file, bad):
            if file_release is None:
                try:
                    found = _release(rec, file, lineno, meta=False)
                except DataError as err:
                    if not bad.drop:  # the file, not the line, is in question
                        raise
                    bad.reject(err, source=str(file))  # a stray line before the reviews
                    continue
                release = file_release = _same_release(release, found, file)
            try:
                rows.append(_review_row(rec, file_release, file, lineno))
            except DataError as err:
                bad.reject(err, source=str(file))
    if release is None or not rows:
        raise DataError(
            f"{', '.join(map(str, files))}: nothing left: no review line can be used. "
            f"Fix: pass a non-empty review file."
        )
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    return release, frame


def _review_row(
    rec: dict[str, Any], release: str, file: Path, lineno: int
) -> tuple[str, str, int, float]:
    user_key, item_key, time_key, rating_key = _REVIEW_KEYS[release]
    item = rec.get(item_key) or rec.get("asin")  # 2023: parent_asin, else the variant asin
    required = {user_key: rec.get(user_key), item_key: item, time_key: rec.get(time_key)}
    for key, value in required.items():
        if value is None or not str(value).strip():
            raise DataError(
                f"{file}, line {lineno}: review has no {key!r}. Fix: correct or delete that line."
            )
    try:
        stamp = int(rec[time_key])
        if abs(stamp) >= MAX_TIMESTAMP:
            raise ValueError(f"timestamp {stamp} is not below 2^62")
        rating = float("nan") if rec.get(rating_key) is None else float(rec[rating_key])
        if math.isinf(rating):
            raise ValueError(f"rating {rating}")
    except (TypeError, ValueError, OverflowError) as err:
        raise DataError(
            f"{file}, line {lineno}: bad {time_key!r} or {rating_key!r} "
            f"({err}). Fix: correct or delete that line."
        ) from err
    # 2023 timestamps are milliseconds since the epoch; the schema wants seconds.
    return str(rec[user_key]), str(item), stamp // 1000 if release == "2023" else stamp, rating


def _same_release(current: str | None, found: str, file: Path) -> str:
    if current is not None and current != found:
        raise DataError(
            f"{file} is an Amazon {found} file but the review files are {current}. "
            f"Fix: load review and meta files of one release together."
        )
    return found


def _read_meta(
    files: list[Path], release: str, wanted: set[str], scenario_field: str | None, bad: BadRows
) -> pd.DataFrame:
    rows: list[tuple[str, str, str, str]] = []
    field_seen = scenario_field in (None, "auto", "file")
    for file in files:
        category = _file_category(file)
        checked = False
        for lineno, rec in _records(file, bad):
            if not checked:
                try:
                    found = _release(rec, file, lineno, meta=True)
                except DataError as err:
                    if not bad.drop:
                        raise
                    bad.reject(err, source=str(file))
                    continue
                _same_release(release, found, file)
                checked = True
            item = rec.get(_META_ID[release])
            if item is None or str(item) not in wanted:
                continue
            field_seen = field_seen or scenario_field in rec
            if scenario_field == "file":
                scenario = category
            else:
                scenario = _scenario(rec, release, scenario_field)
            rows.append(
                (
                    str(item),
                    _text(rec.get("title")),
                    _attributes(rec, release),
                    scenario,
                )
            )
    if not rows:
        raise DataError(
            f"{', '.join(map(str, files))}: none of the {len(wanted)} reviewed items has a "
            f"meta line (nothing left to build the catalog). Fix: pass the meta file of the "
            f"same category and release as the reviews."
        )
    if not field_seen:
        raise ConfigError(
            f"scenario field {scenario_field!r} is in no meta line of the reviewed items. "
            f"Fix: use 'auto', None, or a key such as 'main_category' (2023) or 'main_cat'."
        )
    return pd.DataFrame(rows, columns=["item_id", "title", "attributes", "scenario"])


def _text(value: Any, sep: str = " ") -> str:
    """Plain text of a meta value: lists joined by ``sep``, HTML tags and entities removed."""
    if isinstance(value, list):
        value = sep.join(str(v) for v in value if v)
    if not value:
        return ""
    return " ".join(_TAG.sub(" ", html.unescape(str(value))).split())


def _truncate(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _attributes(rec: dict[str, Any], release: str) -> str:
    maker_key, cats_key = ("brand", "category") if release == "2018" else ("store", "categories")
    parts = []
    if maker := _text(rec.get(maker_key)):
        parts.append(f"{maker_key.capitalize()}: {maker}")
    categories = [_text(c) for c in _as_list(rec.get(cats_key)) if _text(c)]
    if categories:
        parts.append(f"Categories: {', '.join(categories)}")
    if description := _text(rec.get("description")) or _text(rec.get("features"), "; "):
        parts.append(f"Description: {_truncate(description)}")
    return ". ".join(parts)


def _scenario(rec: dict[str, Any], release: str, field: str | None) -> str:
    if field is None:
        return DEFAULT_SCENARIO
    if field == "auto":
        main = _main_category(rec.get("main_category" if release == "2023" else "main_cat"))
        cats = _as_list(rec.get("categories" if release == "2023" else "category"))
        return main or (_text(cats[0]) if cats else "") or DEFAULT_SCENARIO
    values = _as_list(rec.get(field))
    return (_text(values[0]) if values else "") or DEFAULT_SCENARIO


def _file_category(file: Path) -> str:
    """The category a meta file is named for: ``meta_All_Beauty.jsonl.gz`` -> ``All Beauty``."""
    name = file.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.removeprefix("meta_").replace("_", " ").strip() or DEFAULT_SCENARIO


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None or value == "" else [value]


def _main_category(value: Any) -> str:
    """2018 ``main_cat`` is sometimes an ``<img ... alt="AMAZON FASHION">`` tag."""
    text = str(value or "")
    alt = _IMG_ALT.search(text) if text.lstrip().startswith("<") else None
    return _text(alt.group(1) if alt else text)
