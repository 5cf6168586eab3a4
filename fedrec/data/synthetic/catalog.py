"""The synthetic catalog: each scenario's items, their texts, themes and popularity.

An item has a dominant theme (and, for about a third of items, a secondary one); its
title and attributes are composed from hand-written word lists of that theme in its
scenario (:mod:`fedrec.data.synthetic.vocabulary`). A scenario's catalog depends only
on ``(seed, scenario, n)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from fedrec.data.synthetic.vocabulary import (
    BOOK_SUB,
    BRANDS,
    CELLS,
    GENERIC_A,
    MOVIE_LEAD,
    NAMES,
    PRICE,
    REGIONS,
    SEQUEL,
    SYNTHETIC_SCENARIOS,
    SYNTHETIC_THEMES,
    words,
)

_SECONDARY = 0.3  # share of items with a secondary theme
_GENERIC = 0.25  # chance that a title slot uses a theme-free word (noise)

_Picker = Callable[[Sequence[str]], str]


def _item_text(
    scenario: str, t: int, t2: int | None, pick: _Picker, rng: np.random.Generator
) -> tuple[str, str]:
    """Title and attributes of one item of dominant theme ``t`` (and secondary ``t2``)."""
    cell, mix = CELLS[scenario][t], CELLS[scenario][t if t2 is None else t2]
    a = pick(words(GENERIC_A[scenario]) if rng.random() < _GENERIC else cell[0])
    if scenario in ("movies", "books"):
        keys = list(dict.fromkeys([pick(cell[1]), pick(mix[1])]))
        genres = ", ".join(dict.fromkeys([pick(cell[3]), pick(mix[3])]))
        title = f"{a} {pick(cell[2])}"
        form = rng.random()
        if scenario == "movies":
            if form < 0.3:
                title = f"{pick(MOVIE_LEAD)} the {title}"
            year = int(rng.integers(1970, 2025))
            attrs = (
                f"Genres: {genres}. Keywords: {', '.join(keys)}. Year: {year}. "
                f"Director: {pick(NAMES)}"
            )
        else:
            if form < 0.3:
                title = f"{title}: {pick(BOOK_SUB)} {keys[0]}"
            pages = int(rng.integers(120, 640))
            attrs = (
                f"Genre: {genres}. Topics: {', '.join(keys)}. Author: {pick(NAMES)}. Pages: {pages}"
            )
        return f"The {title}" if 0.3 <= form < 0.6 else title, attrs
    if scenario == "news":  # the secondary theme supplies the subject: a cross-over story
        title = f"{a if t2 is None else pick(mix[0])} {pick(cell[1])} {pick(cell[2])}"
        minutes = int(rng.integers(2, 12))
        return title, f"Section: {pick(cell[3])}. Region: {pick(REGIONS)}. {minutes} min read"
    title = f"{a} {pick(mix[1])} {pick(cell[2])}"
    if scenario == "music":
        return title, f"Genre: {pick(cell[3])}. Artist: {pick(NAMES)}. Mood: {pick(mix[4])}"
    price = round(PRICE[t] * float(np.exp(rng.normal(0.0, 0.5))))
    return title, f"Category: {pick(cell[3])}. Brand: {pick(BRANDS.split())}. Price: ${price}"


def scenario_catalog(
    scenario: str, n: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Items of one scenario, their theme weights ``(n, T)`` and log popularity ``(n,)``."""
    rng = np.random.default_rng([seed, 1, SYNTHETIC_SCENARIOS.index(scenario)])
    n_themes = len(SYNTHETIC_THEMES)
    dominant = rng.permutation(np.arange(n) % n_themes)
    has_second = rng.random(n) < _SECONDARY
    second = (dominant + rng.integers(1, n_themes, size=n)) % n_themes
    weights = np.zeros((n, n_themes))
    weights[np.arange(n), dominant] = 1.0
    weights[np.arange(n)[has_second], second[has_second]] += 0.4
    weights /= weights.sum(axis=1, keepdims=True)

    def pick(options: Sequence[str]) -> str:
        return options[int(rng.integers(len(options)))]

    titles: list[str] = []
    attrs: list[str] = []
    seen: dict[str, int] = {}
    for t, t2, mixed in zip(dominant, second, has_second, strict=True):
        title, attr = _item_text(scenario, int(t), int(t2) if mixed else None, pick, rng)
        seen[title] = seen.get(title, 0) + 1
        titles.append(title if seen[title] == 1 else SEQUEL[scenario].format(title, seen[title]))
        attrs.append(attr)
    width = max(5, len(str(n - 1)))
    items = pd.DataFrame(
        {
            "item_id": [f"{scenario}-{i:0{width}d}" for i in range(n)],
            "title": titles,
            "attributes": attrs,
            "scenario": scenario,
        }
    )
    log_pop = -np.log1p(rng.permutation(n))  # Zipf: popularity = 1 / rank
    return items, weights, log_pop
