"""Loader for the GroupLens MovieLens releases ML-100K, ML-1M and ml-latest-small.

Each release is read from its original unzipped files (see the READMEs shipped with
them) and turned into a :class:`~fedrec.data.schema.RecDataset`:

* item title: the movie title as published (it usually ends with the year);
* item attributes: ``"Genres: Animation, Children's, Comedy. Year: 1995"``;
* scenario: the constant ``"movies"``, or the first listed genre with
  ``scenario_field="genre"``;
* profiles: a sentence built from the user file (ML-100K, ML-1M); ml-latest-small
  has no user file, so its profiles are ``None``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from fedrec.data.bad_rows import BadRows, swallowed_rows
from fedrec.data.schema import RecDataset
from fedrec.data.validate import MAX_TIMESTAMP, validate_dataset
from fedrec.errors import ConfigError, DataError
from fedrec.files import undecodable_line

# variant -> the folder name its zip unpacks to
VARIANTS: dict[str, str] = {
    "movielens-100k": "ml-100k",
    "movielens-1m": "ml-1m",
    "movielens-latest-small": "ml-latest-small",
}
SCENARIO_FIELDS = (None, "genre")

# fmt: off
# The 19 genre flags of u.item, in file order (ML-100K README).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
# Age bucket and occupation codes of users.dat (ML-1M README).
ML1M_AGES = {
    1: "under 18", 18: "aged 18-24", 25: "aged 25-34", 35: "aged 35-44",
    45: "aged 45-49", 50: "aged 50-55", 56: "aged 56 or older",
}
ML1M_OCCUPATIONS = (
    "other or not specified", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care",
    "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)
# fmt: on
_GENDERS = {"M": "male", "F": "female"}
_YEAR = re.compile(r"\((\d{4})\)\s*$")
_NO_GENRES = "(no genres listed)"


def load_movielens(
    path: str | Path,
    variant: str,
    *,
    scenario_field: str | None = None,
    drop_bad_rows: bool = False,
) -> RecDataset:
    """Load one MovieLens release from its unzipped folder.

    Args:
        path: the folder holding the files (e.g. ``.../ml-100k``) or its parent.
        variant: ``"movielens-100k"``, ``"movielens-1m"`` or ``"movielens-latest-small"``.
        scenario_field: ``None`` for one scenario ``"movies"``; ``"genre"`` to use
            each movie's first listed genre.
        drop_bad_rows: drop lines that cannot be parsed and ratings of movies absent
            from the movie file, counted in a warning, instead of raising
            (:mod:`fedrec.data.bad_rows`).

    Raises:
        ConfigError: an unknown variant or scenario field.
        DataError: a missing file or a row that cannot be parsed (file and line named).
    """
    if variant not in VARIANTS:
        raise ConfigError(
            f"unknown MovieLens variant {variant!r}. Fix: use one of {sorted(VARIANTS)}."
        )
    if scenario_field not in SCENARIO_FIELDS:
        raise ConfigError(
            f"unknown MovieLens scenario field {scenario_field!r}. Fix: use None "
            f"(one scenario 'movies') or 'genre'."
        )
    folder = VARIANTS[variant]
    return BadRows(drop_bad_rows).load(
        lambda bad: _load(Path(path), variant, folder, scenario_field, bad)
    )


def _load(
    path: Path, variant: str, folder: str, scenario_field: str | None, bad: BadRows
) -> RecDataset:
    profiles: pd.DataFrame | None = None
    if variant == "movielens-100k":
        root = _find_root(path, folder, "u.data")
        inter = _ratings(root / "u.data", "\t", "latin-1", header=False, bad=bad)
        movies = _movies_100k(_require(root, "u.item"), bad)
        profiles = _users_100k(_require(root, "u.user"), bad)
    elif variant == "movielens-1m":
        root = _find_root(path, folder, "ratings.dat")
        inter = _ratings(root / "ratings.dat", "::", "latin-1", header=False, bad=bad)
        movies = _movies_pipe(_require(root, "movies.dat"), "::", "latin-1", False, bad)
        profiles = _users_1m(_require(root, "users.dat"), bad)
    else:
        root = _find_root(path, folder, "ratings.csv")
        inter = _ratings(root / "ratings.csv", ",", "utf-8", header=True, bad=bad)
        movies = _movies_pipe(_require(root, "movies.csv"), ",", "utf-8", True, bad)
    items = pd.DataFrame(
        {
            "item_id": movies["item_id"],
            "title": movies["title"],
            "attributes": [
                _attributes(g, t) for g, t in zip(movies["genres"], movies["title"], strict=True)
            ],
            "scenario": [
                (g[0] if g else "unknown") if scenario_field == "genre" else "movies"
                for g in movies["genres"]
            ],
        }
    )
    ds = RecDataset(name=variant, items=items, interactions=inter, profiles=profiles)
    return validate_dataset(ds, source=str(root), bad_rows=bad)


def _find_root(path: Path, folder: str, marker: str) -> Path:
    for candidate in (path, path / folder):
        if (candidate / marker).is_file():
            return candidate
    raise DataError(
        f"MovieLens file {marker!r} not found in {path} nor in {path / folder}. Fix: point "
        f"data-path at the unzipped {folder!r} folder (or its parent), or use the download "
        f"option to fetch it."
    )


def _require(root: Path, name: str) -> Path:
    file = root / name
    if not file.is_file():
        raise DataError(
            f"MovieLens file {name!r} not found in {root}. Fix: point data-path at a "
            f"complete unzipped folder, or use the download option to fetch it again."
        )
    return file


def _rows(
    file: Path, sep: str, encoding: str, header: bool, columns: Sequence[str], bad: BadRows
) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based line number, fields) for every non-blank data line of ``file``
    with the right number of fields (the others are refused: ``bad``)."""
    with file.open(encoding=encoding, newline="") as fh:
        at = _Position()
        try:
            yield from _split_lines(fh, file, sep, header, columns, bad, at)
        except UnicodeDecodeError as err:
            raise DataError(
                f"{file}, line {_undecodable(file, encoding)}: not readable as {encoding} text "
                f"({err.reason}). Fix: use the original file from the GroupLens zip."
            ) from err
        except csv.Error as err:  # a quote never closed runs to the end of the file
            raise DataError(
                f"{file}, line {at.line + 1}: {err}: a quote opened there is never closed. "
                'Fix: close the quote, or write a quote inside a value twice ("").'
            ) from err


def _undecodable(file: Path, encoding: str) -> int:
    with file.open("rb") as fh:
        return undecodable_line(fh, encoding) or 1


class _Position:
    """The last line :func:`_split_lines` read (for errors raised while reading)."""

    line = 0


def _without_bom(text: str) -> str:
    """``text`` without a UTF-8 byte order mark (read as UTF-8, or as Latin-1)."""
    return text.removeprefix("\ufeff").removeprefix("\u00ef\u00bb\u00bf")


def _split_lines(
    fh: TextIO,
    file: Path,
    sep: str,
    header: bool,
    columns: Sequence[str],
    bad: BadRows,
    at: _Position,
) -> Iterator[tuple[int, list[str]]]:
    if sep == ",":  # quoted CSV; line_num is the record's last line
        reader = csv.reader(fh)
        numbered: Iterator[tuple[int, list[str]]] = ((reader.line_num, f) for f in reader)
    else:
        numbered = enumerate((ln.rstrip("\r\n").split(sep) for ln in fh), start=1)
    for last, fields in numbered:
        lineno, at.line = at.line + 1, last  # the record's first line
        if lineno == 1 and fields:
            fields[0] = _without_bom(fields[0])
        if (header and lineno == 1) or not "".join(fields).strip():
            continue
        swallowed = sum(swallowed_rows(f, sep, len(columns), str.isdigit) for f in fields)
        if swallowed:  # a quote never closed (MovieLens rows start with a numeric id)
            problem = f"a quote is never closed, so the {swallowed} row(s) after it are in it"
            error = _unparsable(file, lineno, fields[0][:60], problem)
            bad.reject(error, source=str(file), count=1 + swallowed)
            continue
        if len(fields) != len(columns):
            wanted = f"{len(columns)} fields ({', '.join(columns)})"
            problem = f"expected {wanted}, found {len(fields)}"
            bad.reject(_unparsable(file, lineno, sep.join(fields), problem), source=str(file))
            continue
        yield lineno, fields


def _unparsable(file: Path, lineno: int, content: str, problem: str) -> DataError:
    return DataError(
        f"{file}, line {lineno}: cannot parse {content!r}: {problem}. Fix: correct or "
        f"delete that line, or download the file again."
    )


def _ratings(file: Path, sep: str, encoding: str, *, header: bool, bad: BadRows) -> pd.DataFrame:
    """Read a ratings file with pandas' C parser (ML-1M has a million lines).

    Only when something is off is the file scanned line by line, to name the first bad
    line in the error (or, dropping bad rows, to keep the others).
    """
    names = ["user_id", "item_id", "rating", "timestamp"]
    try:  # the C parser takes one-character separators only; the fields are plain numbers
        text = _without_bom(file.read_text(encoding=encoding)).replace(sep, "\t")
        table = pd.read_csv(
            io.StringIO(text), sep="\t", header=0 if header else None, names=names, dtype=str
        )
        numbers = table[["rating", "timestamp"]].apply(lambda c: pd.to_numeric(c.str.strip()))
        ids = table[["user_id", "item_id"]].apply(lambda c: c.str.strip())
        clean = (
            bool(table.notna().all(axis=None))
            and bool((ids != "").all(axis=None))
            and bool(np.isfinite(numbers.to_numpy(dtype=float)).all())
            and bool((numbers["timestamp"] % 1 == 0).all())
            and bool((numbers["timestamp"].abs() < MAX_TIMESTAMP).all())
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        clean = False
    if not clean:
        return _scan_ratings(file, sep, encoding, header, names, bad)
    return pd.DataFrame(
        {
            "user_id": table["user_id"],
            "item_id": table["item_id"],
            "timestamp": numbers["timestamp"].astype("int64"),
            "rating": numbers["rating"].astype("float64"),
        }
    )


def _scan_ratings(
    file: Path, sep: str, encoding: str, header: bool, names: list[str], bad: BadRows
) -> pd.DataFrame:
    """The ratings read line by line; a line that does not parse is refused (``bad``)."""
    kept: list[tuple[str, str, int, float]] = []
    for lineno, fields in _rows(file, sep, encoding, header, names, bad):
        user, item = fields[0].strip(), fields[1].strip()
        rating, stamp = _number(fields[2]), _number(fields[3])
        problem = None
        if rating is None:
            problem = "rating is not a number"
        elif stamp is None or not stamp.is_integer() or abs(stamp) >= MAX_TIMESTAMP:
            problem = "timestamp is not a whole number below 2^62"
        elif not user or not item:
            problem = "an id is empty"
        if problem is not None:
            bad.reject(_unparsable(file, lineno, sep.join(fields), problem), source=str(file))
            continue
        kept.append((user, item, int(stamp), rating))  # type: ignore[arg-type]
    if not kept:
        raise DataError(f"{file}: no rating line can be parsed. Fix: download the file again.")
    return pd.DataFrame(kept, columns=["user_id", "item_id", "timestamp", "rating"])


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _movies_100k(file: Path, bad: BadRows) -> pd.DataFrame:
    names = ("movie id", "title", "release date", "video release date", "IMDb URL", *ML100K_GENRES)
    ids, titles, genres = [], [], []
    for lineno, fields in _rows(file, "|", "latin-1", False, names, bad):
        flags = [f.strip() for f in fields[5:]]
        if any(f not in ("0", "1") for f in flags):
            problem = "genre flags must be 0 or 1"
            bad.reject(_unparsable(file, lineno, "|".join(fields), problem), source=str(file))
            continue
        ids.append(fields[0].strip())
        titles.append(fields[1].strip())
        genres.append([g for g, f in zip(ML100K_GENRES, flags, strict=True) if f == "1"])
    return pd.DataFrame({"item_id": ids, "title": titles, "genres": genres})


def _movies_pipe(file: Path, sep: str, encoding: str, header: bool, bad: BadRows) -> pd.DataFrame:
    """movies.dat / movies.csv: id, title, pipe-separated genres."""
    rows = list(_rows(file, sep, encoding, header, ("movieId", "title", "genres"), bad))
    genres = [
        [g.strip() for g in r[1][2].split("|") if g.strip() and g.strip() != _NO_GENRES]
        for r in rows
    ]
    return pd.DataFrame(
        {
            "item_id": [r[1][0].strip() for r in rows],
            "title": [r[1][1].strip() for r in rows],
            "genres": genres,
        }
    )


def _attributes(genres: list[str], title: str) -> str:
    parts = [f"Genres: {', '.join(genres)}"] if genres else []
    year = _YEAR.search(title)
    if year:
        parts.append(f"Year: {year.group(1)}")
    return ". ".join(parts)


def _users_100k(file: Path, bad: BadRows) -> pd.DataFrame:
    ids, texts = [], []
    names = ("user id", "age", "gender", "occupation", "zip code")
    for lineno, fields in _rows(file, "|", "latin-1", False, names, bad):
        uid, age, gender, occupation, zip_code = (f.strip() for f in fields)
        if not age.isdigit():
            problem = "age is not a whole number"
            bad.reject(_unparsable(file, lineno, "|".join(fields), problem), source=str(file))
            continue
        who = f"A {age}-year-old {_GENDERS.get(gender, 'person')}"
        if occupation in ("none", "other"):
            texts.append(f"{who} (occupation: {occupation}, zip {zip_code})")
        else:
            texts.append(f"{who} {occupation} (zip {zip_code})")
        ids.append(uid)
    return pd.DataFrame({"user_id": ids, "profile": texts})


def _users_1m(file: Path, bad: BadRows) -> pd.DataFrame:
    ids, texts = [], []
    names = ("UserID", "Gender", "Age", "Occupation", "Zip-code")
    for lineno, fields in _rows(file, "::", "latin-1", False, names, bad):
        uid, gender, age, occupation, zip_code = (f.strip() for f in fields)
        problem = None
        if not age.isdigit() or int(age) not in ML1M_AGES:
            problem = f"age code must be one of {sorted(ML1M_AGES)}"
        elif not occupation.isdigit() or int(occupation) >= len(ML1M_OCCUPATIONS):
            problem = "occupation code must be 0-20"
        if problem is not None:
            bad.reject(_unparsable(file, lineno, "::".join(fields), problem), source=str(file))
            continue
        texts.append(
            f"A {_GENDERS.get(gender, 'person')} {ML1M_AGES[int(age)]}, working as "
            f"{ML1M_OCCUPATIONS[int(occupation)]} (zip {zip_code})"
        )
        ids.append(uid)
    return pd.DataFrame({"user_id": ids, "profile": texts})
