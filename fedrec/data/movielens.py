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
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

import pandas as pd

from fedrec.data.schema import RecDataset
from fedrec.data.validate import validate_dataset
from fedrec.errors import ConfigError, DataError

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
    path: str | Path, variant: str, *, scenario_field: str | None = None
) -> RecDataset:
    """Load one MovieLens release from its unzipped folder.

    Args:
        path: the folder holding the files (e.g. ``.../ml-100k``) or its parent.
        variant: ``"movielens-100k"``, ``"movielens-1m"`` or ``"movielens-latest-small"``.
        scenario_field: ``None`` for one scenario ``"movies"``; ``"genre"`` to use
            each movie's first listed genre.

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
    profiles: pd.DataFrame | None = None
    if variant == "movielens-100k":
        root = _find_root(Path(path), folder, "u.data")
        inter = _ratings(root / "u.data", "\t", "latin-1", header=False)
        movies = _movies_100k(_require(root, "u.item"))
        profiles = _users_100k(_require(root, "u.user"))
    elif variant == "movielens-1m":
        root = _find_root(Path(path), folder, "ratings.dat")
        inter = _ratings(root / "ratings.dat", "::", "latin-1", header=False)
        movies = _movies_pipe(_require(root, "movies.dat"), "::", "latin-1", header=False)
        profiles = _users_1m(_require(root, "users.dat"))
    else:
        root = _find_root(Path(path), folder, "ratings.csv")
        inter = _ratings(root / "ratings.csv", ",", "utf-8", header=True)
        movies = _movies_pipe(_require(root, "movies.csv"), ",", "utf-8", header=True)
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
    return validate_dataset(ds, source=str(root))


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
    file: Path, sep: str, encoding: str, header: bool, columns: Sequence[str]
) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based line number, fields) for every non-blank data line of ``file``."""
    with file.open(encoding=encoding, newline="") as fh:
        try:
            yield from _split_lines(fh, file, sep, header, columns)
        except UnicodeDecodeError as err:
            raise DataError(
                f"{file}: not readable as {encoding} text ({err.reason} at byte {err.start})."
                f" Fix: use the original file from the GroupLens zip."
            ) from err


def _split_lines(
    fh: TextIO, file: Path, sep: str, header: bool, columns: Sequence[str]
) -> Iterator[tuple[int, list[str]]]:
    if sep == ",":  # quoted CSV; line_num stays right even when a field spans lines
        reader = csv.reader(fh)
        numbered: Iterator[tuple[int, list[str]]] = ((reader.line_num, f) for f in reader)
    else:
        numbered = enumerate((ln.rstrip("\r\n").split(sep) for ln in fh), start=1)
    for lineno, fields in numbered:
        if (header and lineno == 1) or not "".join(fields).strip():
            continue
        if len(fields) != len(columns):
            wanted = f"{len(columns)} fields ({', '.join(columns)})"
            problem = f"expected {wanted}, found {len(fields)}"
            raise _unparsable(file, lineno, sep.join(fields), problem)
        yield lineno, fields


def _unparsable(file: Path, lineno: int, content: str, problem: str) -> DataError:
    return DataError(
        f"{file}, line {lineno}: cannot parse {content!r}: {problem}. Fix: correct or "
        f"delete that line, or download the file again."
    )


def _ratings(file: Path, sep: str, encoding: str, *, header: bool) -> pd.DataFrame:
    """Read a ratings file with pandas' C parser (ML-1M has a million lines).

    Only when something is off is the file scanned line by line, to name the first bad
    line in the error.
    """
    names = ["user_id", "item_id", "rating", "timestamp"]
    try:  # the C parser takes one-character separators only; the fields are plain numbers
        text = file.read_text(encoding=encoding).replace(sep, "\t")
        table = pd.read_csv(
            io.StringIO(text), sep="\t", header=0 if header else None, names=names, dtype=str
        )
        numbers = table[["rating", "timestamp"]].apply(lambda c: pd.to_numeric(c.str.strip()))
        clean = table.notna().all(axis=None) and bool((numbers["timestamp"] % 1 == 0).all())
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        clean = False
    if not clean:
        _raise_first_bad_line(file, sep, encoding, header, names)
    return pd.DataFrame(
        {
            "user_id": table["user_id"],
            "item_id": table["item_id"],
            "timestamp": numbers["timestamp"].astype("int64"),
            "rating": numbers["rating"].astype("float64"),
        }
    )


def _raise_first_bad_line(
    file: Path, sep: str, encoding: str, header: bool, names: list[str]
) -> NoReturn:
    for lineno, fields in _rows(file, sep, encoding, header, names):
        for name, value in zip(names[2:], fields[2:], strict=True):
            try:
                float(value) if name == "rating" else int(value)
            except ValueError:
                problem = f"{name} is not a {'number' if name == 'rating' else 'whole number'}"
                raise _unparsable(file, lineno, sep.join(fields), problem) from None
    raise DataError(f"{file}: cannot parse the ratings. Fix: download the file again.")


def _movies_100k(file: Path) -> pd.DataFrame:
    names = ("movie id", "title", "release date", "video release date", "IMDb URL", *ML100K_GENRES)
    ids, titles, genres = [], [], []
    for lineno, fields in _rows(file, "|", "latin-1", False, names):
        flags = [f.strip() for f in fields[5:]]
        if any(f not in ("0", "1") for f in flags):
            raise _unparsable(file, lineno, "|".join(fields), "genre flags must be 0 or 1")
        ids.append(fields[0].strip())
        titles.append(fields[1].strip())
        genres.append([g for g, f in zip(ML100K_GENRES, flags, strict=True) if f == "1"])
    return pd.DataFrame({"item_id": ids, "title": titles, "genres": genres})


def _movies_pipe(file: Path, sep: str, encoding: str, *, header: bool) -> pd.DataFrame:
    """movies.dat / movies.csv: id, title, pipe-separated genres."""
    rows = list(_rows(file, sep, encoding, header, ("movieId", "title", "genres")))
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


def _users_100k(file: Path) -> pd.DataFrame:
    ids, texts = [], []
    names = ("user id", "age", "gender", "occupation", "zip code")
    for lineno, fields in _rows(file, "|", "latin-1", False, names):
        uid, age, gender, occupation, zip_code = (f.strip() for f in fields)
        if not age.isdigit():
            raise _unparsable(file, lineno, "|".join(fields), "age is not a whole number")
        who = f"A {age}-year-old {_GENDERS.get(gender, 'person')}"
        if occupation in ("none", "other"):
            texts.append(f"{who} (occupation: {occupation}, zip {zip_code})")
        else:
            texts.append(f"{who} {occupation} (zip {zip_code})")
        ids.append(uid)
    return pd.DataFrame({"user_id": ids, "profile": texts})


def _users_1m(file: Path) -> pd.DataFrame:
    ids, texts = [], []
    names = ("UserID", "Gender", "Age", "Occupation", "Zip-code")
    for lineno, fields in _rows(file, "::", "latin-1", False, names):
        uid, gender, age, occupation, zip_code = (f.strip() for f in fields)
        if not age.isdigit() or int(age) not in ML1M_AGES:
            raise _unparsable(
                file, lineno, "::".join(fields), f"age code must be one of {sorted(ML1M_AGES)}"
            )
        if not occupation.isdigit() or int(occupation) >= len(ML1M_OCCUPATIONS):
            raise _unparsable(file, lineno, "::".join(fields), "occupation code must be 0-20")
        texts.append(
            f"A {_GENDERS.get(gender, 'person')} {ML1M_AGES[int(age)]}, working as "
            f"{ML1M_OCCUPATIONS[int(occupation)]} (zip {zip_code})"
        )
        ids.append(uid)
    return pd.DataFrame({"user_id": ids, "profile": texts})
