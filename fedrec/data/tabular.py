"""Loader for any interaction table in CSV, TSV or Parquet, described by a column map.

``columns`` maps our names to the file's column names:

* ``user_id``, ``item_id`` (required);
* ``timestamp`` (integers, or ISO 8601 dates such as ``2021-03-04T10:00:00Z`` turned
  into seconds since the epoch, dates without a zone read as UTC; without it, the file
  order of each user's rows);
* ``rating`` (numbers; NaN without it);
* ``title``, ``attributes`` and ``scenario`` for the items. ``attributes`` is one
  column name, used as is, or a comma-separated list of names, rendered as
  ``"Col: value. Col2: value"``.

The catalog comes from ``items_path`` when given (a file with the mapped ``item_id``
column and any of ``title``, ``attributes``, ``scenario``), otherwise from the distinct
items of the interaction file (the first row of each item gives its text).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fedrec.data.bad_rows import BadRows, swallowed_rows
from fedrec.data.schema import RecDataset
from fedrec.data.validate import MAX_TIMESTAMP, epoch_seconds, validate_dataset
from fedrec.errors import ConfigError, DataError

MAPPING_KEYS = ("user_id", "item_id", "timestamp", "rating", "title", "attributes", "scenario")
ITEM_KEYS = ("item_id", "title", "attributes", "scenario")
DEFAULT_SCENARIO = "default"
_SEPARATORS = {".csv": ",", ".tsv": "\t"}
_PARQUET = (".parquet", ".pq")


def load_tabular(
    path: str | Path,
    *,
    columns: Mapping[str, str],
    items_path: str | Path | None = None,
    scenario: str | None = None,
    drop_bad_rows: bool = False,
) -> RecDataset:
    """Load interactions (and optionally a catalog) from CSV/TSV/Parquet files.

    Args:
        path: the interaction file; the suffix (``.csv``, ``.tsv``, ``.parquet``,
            ``.pq``, optionally followed by ``.gz`` for text) picks the reader.
        columns: our column name -> the file's column name (see the module docstring).
        items_path: an optional catalog file read with the same mapping.
        scenario: the scenario of items without a mapped scenario value
            (``"default"`` when ``None`` and no scenario column is mapped).
        drop_bad_rows: drop interaction rows that cannot be read (an empty id, a value
            that does not parse) and interactions of items absent from ``items_path``,
            counted in a warning, instead of raising (:mod:`fedrec.data.bad_rows`).

    Raises:
        ConfigError: an unknown mapping key, or no ``user_id``/``item_id`` mapping.
        DataError: an unreadable file, a mapped column the file lacks, or a value that
            cannot be parsed (file and line named).
    """
    mapping = _check_mapping(columns)
    file = Path(path)
    table = _read(file)
    item_keys = ITEM_KEYS if items_path is None else ("item_id",)
    _check_columns(table, file, mapping, ("user_id", "timestamp", "rating", *item_keys))
    return BadRows(drop_bad_rows).load(
        lambda bad: _load(table, file, mapping, items_path, scenario, bad)
    )


def _load(
    table: pd.DataFrame,
    file: Path,
    mapping: dict[str, str],
    items_path: str | Path | None,
    scenario: str | None,
    bad: BadRows,
) -> RecDataset:
    interactions, table = _interactions(_swallowed(table, file, bad), file, mapping, bad)
    if items_path is None:
        catalog = table.drop_duplicates(subset=mapping["item_id"], keep="first")
        items = _items(catalog, file, mapping, scenario)
    else:
        items_file = Path(items_path)
        item_table = _swallowed(_read(items_file), items_file, bad)
        _check_columns(item_table, items_file, mapping, ITEM_KEYS)
        items = _items(item_table, items_file, mapping, scenario)
    ds = RecDataset(name=file.name.split(".")[0], items=items, interactions=interactions)
    return validate_dataset(ds, source=str(file), bad_rows=bad)


def _check_mapping(columns: Mapping[str, str]) -> dict[str, str]:
    for key in columns:
        if key not in MAPPING_KEYS:
            raise ConfigError(
                f"unknown column mapping key {key!r}. Fix: use only {', '.join(MAPPING_KEYS)}."
            )
    for key in ("user_id", "item_id"):
        if not columns.get(key):
            raise ConfigError(
                f"the column mapping has no {key!r}. Fix: map {key!r} to the file's column "
                f"that holds it, e.g. columns={{'{key}': 'the_column'}}."
            )
    return {key: str(name) for key, name in columns.items() if name}


def _read(file: Path) -> pd.DataFrame:
    name = file.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if suffix not in _SEPARATORS and suffix not in _PARQUET:
        raise DataError(
            f"{file}: unknown table suffix {suffix or '(none)'!r}. Fix: use a .csv, .tsv, "
            f".parquet or .pq file."
        )
    if not file.is_file():
        raise DataError(f"{file} does not exist. Fix: check the data path.")
    try:
        if suffix in _PARQUET:  # rows counted from 0, whatever index the file stored
            return pd.read_parquet(file).reset_index(drop=True)
        table = pd.read_csv(
            file,
            sep=_SEPARATORS[suffix],
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
        )
        return _by_line(table)
    except (EOFError, zlib.error) as err:
        raise DataError(
            f"{file}: the compressed file is cut short or damaged ({err}). Fix: download or "
            "copy it again."
        ) from err
    except UnicodeDecodeError as err:
        raise DataError(
            f"{file}: not UTF-8 text (it holds the byte {err.object[err.start : err.start + 1]!r})."
            f" Fix: save it as UTF-8, e.g. iconv -f latin1 -t utf-8 "
            f"{file.name} > utf8-{file.name}, if it is Latin-1."
        ) from err
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(
            f"{file}: cannot read the table ({err}). Fix: check the file format "
            f"and that it matches its suffix."
        ) from err


def _by_line(table: pd.DataFrame) -> pd.DataFrame:
    """A text table indexed by the line each record starts on (the header is line 1), its
    blank lines (rows with no value at all) left out, so that errors name the file's line."""
    newlines = np.zeros(len(table), dtype=np.int64)
    for column in table.columns:
        newlines += table[column].fillna("").str.count("\n").to_numpy()
    starts = 2 + np.concatenate([[0], np.cumsum(1 + newlines)[:-1]]) if len(table) else newlines
    blank = table.isna().all(axis=1).to_numpy()
    table = table[~blank]
    table.index = pd.Index(starts[~blank], name="line")
    return table


def _swallowed(table: pd.DataFrame, file: Path, bad: BadRows) -> pd.DataFrame:
    """``table`` without the records whose value runs over lines that look like rows of
    their own (as many separators as a row has, one starting with a first-column value
    of the file): a quote opened and never closed, which reads the lines after it into
    one value. Refused (file, line and column named), or
    dropped and counted with the lines they swallowed."""
    sep = _SEPARATORS.get(Path(file.name.lower().removesuffix(".gz")).suffix)
    if sep is None or table.empty:
        return table
    keys = set(table.iloc[:, 0].dropna().astype(str).str.strip())
    hits = np.zeros(len(table), dtype=bool)
    lost = np.zeros(len(table), dtype=np.int64)
    first: tuple[int, str] | None = None
    for column in table.columns:
        values = table[column].fillna("")
        for pos in np.flatnonzero(values.str.contains("\n", regex=False).to_numpy()):
            rows = swallowed_rows(values.iloc[pos], sep, len(table.columns), keys.__contains__)
            if rows:
                hits[pos], lost[pos] = True, max(lost[pos], rows)
                if first is None or pos < first[0]:
                    first = (pos, str(column))
    if first is None:
        return table
    pos, column = first
    bad.reject(
        DataError(
            f"{file}, line {table.index[pos]}: a quote in column {column!r} is never closed, "
            f"so the {lost[pos]} row(s) after it were read as part of that value. Fix: close "
            'the quote, or write a quote inside a value twice ("").'
        ),
        source=str(file),
        count=int((hits + lost).sum()),
    )
    return table[~hits]


def _check_columns(
    table: pd.DataFrame, file: Path, mapping: dict[str, str], keys: tuple[str, ...]
) -> None:
    for key in keys:
        for column in _column_list(mapping, key):
            if column not in table.columns:
                raise DataError(
                    f"{file}: column {column!r} (mapped to {key!r}) is not in the file; its "
                    f"columns are {list(map(str, table.columns))}. Fix: correct the mapping."
                )


def _column_list(mapping: dict[str, str], key: str) -> list[str]:
    """The file columns mapped to ``key``; ``attributes`` may list several."""
    if key not in mapping:
        return []
    if key != "attributes":
        return [mapping[key]]
    return [c.strip() for c in mapping[key].split(",") if c.strip()]


def _where(file: Path, label: object) -> str:
    """Where a record is: ``label``, its index in the table :func:`_read` gave, is the
    line of a text file or the row of a Parquet file."""
    return f"row {label}" if file.suffix.lower() in _PARQUET else f"line {label}"


def _bad(file: Path, row: object, column: str, value: object, wanted: str) -> DataError:
    if isinstance(value, np.generic):
        value = value.item()  # 2.5, not np.float64(2.5)
    held = "is empty" if pd.isna(value) else f"holds {value!r}"  # type: ignore[call-overload]
    return DataError(
        f"{file}, {_where(file, row)}: column {column!r} {held}, not {wanted}. "
        f"Fix: correct or delete that row, or map the right column."
    )


def _empty_id(file: Path, row: object, column: str) -> DataError:
    return DataError(
        f"{file}, {_where(file, row)}: column {column!r} is empty. Fix: give every row "
        f"an id, or delete the incomplete rows."
    )


def _is_empty(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()


def _is_not_number(values: pd.Series, numbers: pd.Series) -> np.ndarray:
    """Values that are there but whose ``numbers`` (as parsed) are not finite."""
    return ((numbers.isna() & values.notna()) | np.isinf(numbers)).to_numpy()


def _parse_times(values: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    """The column's timestamps, which of them do not parse, and what was wanted.

    The column's kind is decided once: a datetime column as it is; whole numbers unless
    more values read only as ISO 8601 dates than as numbers; otherwise ISO 8601 dates,
    as seconds since the epoch (dates without a zone read as UTC). Leaving out the values
    that do not parse never changes the kind, so the check and the parse agree.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values, values.isna().to_numpy(), "a date"
    numbers = pd.to_numeric(values, errors="coerce")
    numeric = (numbers.notna() & (numbers.abs() < MAX_TIMESTAMP)).to_numpy()
    whole = "a whole number below 2^62, as most of this column is"
    if numeric.all() or pd.api.types.is_numeric_dtype(values):  # a Parquet number column
        return numbers, ~numeric | (numbers % 1 != 0).to_numpy(), whole
    dates = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    if numeric.sum() >= (dates.notna().to_numpy() & ~numeric).sum():
        return numbers, ~numeric | (numbers % 1 != 0).to_numpy(), whole
    return (
        epoch_seconds(dates),
        dates.isna().to_numpy(),
        "an ISO 8601 date, as most of this column is",
    )


def _interactions(
    table: pd.DataFrame, file: Path, mapping: dict[str, str], bad: BadRows
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The interactions of the rows that parse, and those rows of ``table``. The others
    are refused as one batch, named by the first of them: an error, or (dropping) left
    out and counted."""
    parsed = {key: table[mapping[key]] for key in ("user_id", "item_id")}
    checks = {key: (_is_empty(parsed[key]), "") for key in parsed}
    if "timestamp" in mapping:
        parsed["timestamp"], mask, wanted = _parse_times(table[mapping["timestamp"]])
        checks["timestamp"] = (mask, wanted)
    if "rating" in mapping:
        parsed["rating"] = pd.to_numeric(table[mapping["rating"]], errors="coerce")
        checks["rating"] = (_is_not_number(table[mapping["rating"]], parsed["rating"]), "a number")
    unusable = np.zeros(len(table), dtype=bool)
    first: tuple[int, DataError] | None = None
    for key, (mask, wanted) in checks.items():
        if mask.any():
            row, column = int(np.flatnonzero(mask)[0]), mapping[key]
            if wanted:
                error = _bad(file, table.index[row], column, table[column].iloc[row], wanted)
            else:
                error = _empty_id(file, table.index[row], column)
            first = (row, error) if first is None or row < first[0] else first
        unusable |= mask
    if first is not None:
        bad.reject(first[1], source=str(file), count=int(unusable.sum()))
    kept = {key: value[~unusable].reset_index(drop=True) for key, value in parsed.items()}
    frame = pd.DataFrame(kept)
    if "timestamp" not in mapping:  # no clock: each user's rows are in file order
        frame["timestamp"] = frame.groupby("user_id").cumcount().astype("int64")
    elif not pd.api.types.is_datetime64_any_dtype(frame["timestamp"]):  # else validate converts
        frame["timestamp"] = frame["timestamp"].astype("int64")
    if "rating" not in mapping:
        frame["rating"] = np.nan
    return frame, table[~unusable]


def _ids(table: pd.DataFrame, column: str, file: Path) -> pd.Series:
    values = table[column]
    empty = _is_empty(values)
    if empty.any():
        raise _empty_id(file, table.index[int(np.flatnonzero(empty)[0])], column)
    return values.reset_index(drop=True)


def _items(
    table: pd.DataFrame, file: Path, mapping: dict[str, str], scenario: str | None
) -> pd.DataFrame:
    items = pd.DataFrame({"item_id": _ids(table, mapping["item_id"], file)})
    items["title"] = table[mapping["title"]].reset_index(drop=True) if "title" in mapping else ""
    items["attributes"] = _attributes(table, _column_list(mapping, "attributes"))
    if "scenario" in mapping:
        values = table[mapping["scenario"]].reset_index(drop=True)
        items["scenario"] = values if scenario is None else values.fillna(scenario)
    else:
        items["scenario"] = scenario or DEFAULT_SCENARIO
    return items


def _attributes(table: pd.DataFrame, columns: list[str]) -> list[str]:
    if not columns:
        return [""] * len(table)
    cells = table[columns].astype(object).where(table[columns].notna(), "").astype(str)
    if len(columns) == 1:
        return cells[columns[0]].str.strip().tolist()
    return [
        ". ".join(f"{c}: {v.strip()}" for c, v in zip(columns, row, strict=True) if v.strip())
        for row in cells.itertuples(index=False, name=None)
    ]
