"""Writers of tiny data sets in the original file layouts of each source (tests only).

All writers share one simulated world: items carry one or two genres and each user
prefers one or two genres, picking (and rating highly) mostly items of those genres,
so a model trained on the files can learn something. Every interaction names an item
of the written catalog. Output is deterministic for a given ``seed``.
"""

from __future__ import annotations

import csv
import gzip as gzip_module
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# fmt: off
# The 19 genre flags of ML-100K's u.item, in file order (from the ML-100K README).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
# fmt: on
GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi")
_WORDS = ("Café", "Night", "River", "Star", "Ghost", "Heart", "Storm", "Garden")
_OCCUPATIONS_100K = ("technician", "writer", "student", "educator", "programmer", "other")


@dataclass(frozen=True)
class World:
    """A simulated catalog, user base and interaction log."""

    items: list[tuple[int, str, int, list[str]]]  # id (1-based), title, year, genres
    users: list[tuple[int, int, str, int, str]]  # id (1-based), age, M/F, occupation, zip
    events: list[tuple[int, int, float, int]]  # user, item, rating 1-5, unix seconds
    liked: dict[int, set[str]]  # user -> preferred genres


def simulate(n_users: int, n_items: int, per_user: int, seed: int) -> World:
    """Draw a world where users mostly pick and like items of their preferred genres."""
    if per_user > n_items:
        raise ValueError(f"per_user={per_user} exceeds n_items={n_items}")
    rng = np.random.default_rng(seed)
    items = []
    for i in range(1, n_items + 1):
        genres = [GENRES[i % len(GENRES)]]
        if rng.random() < 0.4:
            genres.append(GENRES[int(rng.integers(len(GENRES)))])
        year = int(rng.integers(1970, 2000))
        items.append((i, f"{_WORDS[i % len(_WORDS)]} {i} ({year})", year, sorted(set(genres))))
    users, events, liked = [], [], {}
    for u in range(1, n_users + 1):
        prefs = {GENRES[u % len(GENRES)], GENRES[int(rng.integers(len(GENRES)))]}
        liked[u] = prefs
        users.append(
            (
                u,
                int(rng.integers(18, 70)),
                "MF"[u % 2],
                int(rng.integers(21)),
                f"{int(rng.integers(10000, 99999))}",
            )
        )
        match = np.array([bool(prefs & set(it[3])) for it in items])
        weights = np.where(match, 10.0, 1.0)
        chosen = rng.choice(n_items, size=per_user, replace=False, p=weights / weights.sum())
        clock = 880_000_000 + u * 1_000_000 + np.cumsum(rng.integers(60, 86_400, per_user))
        for idx, ts in zip(chosen, clock, strict=True):
            rating = float(rng.integers(4, 6) if match[idx] else rng.integers(1, 4))
            events.append((u, int(idx) + 1, rating, int(ts)))
    return World(items, users, events, liked)


def write_ml100k(
    directory: Path, *, n_users: int = 30, n_items: int = 40, per_user: int = 12, seed: int = 0
) -> Path:
    """Write ``directory/ml-100k/{u.data,u.item,u.user}``; return that folder."""
    world = simulate(n_users, n_items, per_user, seed)
    root = Path(directory) / "ml-100k"
    root.mkdir(parents=True, exist_ok=True)
    (root / "u.data").write_text(
        "".join(f"{u}\t{i}\t{int(r)}\t{ts}\n" for u, i, r, ts in world.events), encoding="latin-1"
    )
    lines = []
    for i, title, year, genres in world.items:
        flags = "|".join("1" if g in genres else "0" for g in ML100K_GENRES)
        url = f"http://us.imdb.com/M/title-exact?{title.replace(' ', '%20')}"
        lines.append(f"{i}|{title}|01-Jan-{year}||{url}|{flags}\n")
    (root / "u.item").write_text("".join(lines), encoding="latin-1")
    (root / "u.user").write_text(
        "".join(
            f"{u}|{age}|{g}|{_OCCUPATIONS_100K[occ % len(_OCCUPATIONS_100K)]}|{z}\n"
            for u, age, g, occ, z in world.users
        ),
        encoding="latin-1",
    )
    return root


def write_ml1m(
    directory: Path, *, n_users: int = 20, n_items: int = 30, per_user: int = 10, seed: int = 0
) -> Path:
    """Write ``directory/ml-1m/{ratings,movies,users}.dat`` ("::"-separated, latin-1)."""
    world = simulate(n_users, n_items, per_user, seed)
    root = Path(directory) / "ml-1m"
    root.mkdir(parents=True, exist_ok=True)
    (root / "ratings.dat").write_text(
        "".join(f"{u}::{i}::{int(r)}::{ts}\n" for u, i, r, ts in world.events), encoding="latin-1"
    )
    (root / "movies.dat").write_text(
        "".join(f"{i}::{title}::{'|'.join(genres)}\n" for i, title, _, genres in world.items),
        encoding="latin-1",
    )
    buckets = (1, 18, 25, 35, 45, 50, 56)
    (root / "users.dat").write_text(
        "".join(
            f"{u}::{g}::{max(b for b in buckets if b <= age)}::{occ}::{z}\n"
            for u, age, g, occ, z in world.users
        ),
        encoding="latin-1",
    )
    return root


def write_ml_latest_small(
    directory: Path, *, n_users: int = 20, n_items: int = 30, per_user: int = 10, seed: int = 0
) -> Path:
    """Write ``directory/ml-latest-small/{ratings,movies}.csv`` (with headers, UTF-8).

    Titles with a comma are quoted, as in the real file; the last movie has
    ``(no genres listed)``; ratings use half stars.
    """
    world = simulate(n_users, n_items, per_user, seed)
    root = Path(directory) / "ml-latest-small"
    root.mkdir(parents=True, exist_ok=True)
    with (root / "ratings.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        for u, i, r, ts in world.events:
            writer.writerow([u, i, r - 0.5 if ts % 2 else r, ts])
    with (root / "movies.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for i, title, _, genres in world.items:
            name = title.replace(f"{i} ", f"{i}, The ", 1) if i % 3 == 0 else title
            labels = "(no genres listed)" if i == len(world.items) else "|".join(genres)
            writer.writerow([i, name, labels])
    return root


def _write_lines(file: Path, records: list[dict[str, object]], gzip: bool) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
    file.write_bytes(gzip_module.compress(text) if gzip else text)
    return file


def write_amazon_2018(
    directory: Path,
    *,
    gzip: bool = True,
    category: str = "Video_Games",
    n_users: int = 15,
    n_items: int = 20,
    per_user: int = 6,
    seed: int = 0,
) -> Path:
    """Write ``<category>.json[.gz]`` and ``meta_<category>.json[.gz]`` (2018 layout).

    Returns ``directory``. Item ids are ASINs ``B00000<i>``; ``main_cat`` is the
    category name with spaces, ``category`` lists the category and the item's genres.
    """
    world = simulate(n_users, n_items, per_user, seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".json.gz" if gzip else ".json"
    nice = category.replace("_", " ")
    reviews = [
        {
            "overall": r,
            "verified": True,
            "reviewTime": "01 1, 2000",
            "reviewerID": f"A{u:05d}X",
            "asin": f"B{i:09d}",
            "reviewerName": f"User {u}",
            "reviewText": "Fine.",
            "summary": "Ok",
            "unixReviewTime": ts,
        }
        for u, i, r, ts in world.events
    ]
    meta = [
        {
            "category": [nice, *genres],
            "description": [f"A {', '.join(genres)} title.", "Fun."],
            "title": title,
            "brand": f"Studio {i % 4}",
            "main_cat": nice,
            "asin": f"B{i:09d}",
        }
        for i, title, _, genres in world.items
    ]
    _write_lines(directory / f"{category}{suffix}", reviews, gzip)
    _write_lines(directory / f"meta_{category}{suffix}", meta, gzip)
    return directory


def write_amazon_2023(
    directory: Path,
    *,
    gzip: bool = False,
    category: str = "Video_Games",
    n_users: int = 15,
    n_items: int = 20,
    per_user: int = 6,
    seed: int = 0,
) -> Path:
    """Write ``<category>.jsonl[.gz]`` and ``meta_<category>.jsonl[.gz]`` (2023 layout).

    Returns ``directory``. Timestamps are in milliseconds; ``parent_asin`` is the item
    id, and every other review carries a variant ``asin`` that differs from it.
    """
    world = simulate(n_users, n_items, per_user, seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".jsonl.gz" if gzip else ".jsonl"
    nice = category.replace("_", " ")
    reviews = [
        {
            "rating": r,
            "title": "Ok",
            "text": "Fine.",
            "images": [],
            "asin": f"B{i:09d}" + ("V" if ts % 2 else ""),
            "parent_asin": f"B{i:09d}",
            "user_id": f"AE{u:05d}",
            "timestamp": ts * 1000 + 123,
            "helpful_vote": 0,
            "verified_purchase": True,
        }
        for u, i, r, ts in world.events
    ]
    meta = [
        {
            "main_category": nice,
            "title": title,
            "average_rating": 4.0,
            "rating_number": 3,
            "features": [f"{g} game" for g in genres],
            "description": [],
            "price": None,
            "images": [],
            "videos": [],
            "store": f"Studio {i % 4}",
            "categories": [nice, *genres],
            "details": {},
            "parent_asin": f"B{i:09d}",
            "bought_together": None,
        }
        for i, title, _, genres in world.items
    ]
    _write_lines(directory / f"{category}{suffix}", reviews, gzip)
    _write_lines(directory / f"meta_{category}{suffix}", meta, gzip)
    return directory
