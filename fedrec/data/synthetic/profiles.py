"""Profile texts of the synthetic dataset: one sentence per user from their top themes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fedrec.data.synthetic.vocabulary import PROFILE_CELLS, SCENARIO_HABIT


def profile_table(
    seed: int,
    profile_fraction: float,
    user_ids: list[str],
    tastes: np.ndarray,
    activity: np.ndarray,
    names: list[str],
) -> pd.DataFrame | None:
    """Profile texts for a ``profile_fraction`` of users (None when that is nobody)."""
    n_users = len(user_ids)
    n_profiles = round(profile_fraction * n_users)
    if n_profiles == 0:
        return None
    prng = np.random.default_rng([seed, 3])
    chosen = np.sort(prng.choice(n_users, size=n_profiles, replace=False))
    habits = [
        SCENARIO_HABIT[names[int(np.argmax(activity[u]))]] if len(names) > 1 else None
        for u in chosen
    ]
    return pd.DataFrame(
        {
            "user_id": [user_ids[u] for u in chosen],
            "profile": [
                _profile_text(prng, tastes[u], h) for u, h in zip(chosen, habits, strict=True)
            ],
        }
    )


def _profile_text(rng: np.random.Generator, taste: np.ndarray, habit: str | None) -> str:
    """A one-sentence profile from the top themes, with noise."""

    def pick(options: Sequence[str]) -> str:
        return options[int(rng.integers(len(options)))]

    order = np.argsort(-taste)
    persona_theme = order[0] if rng.random() < 0.85 else rng.integers(len(taste))
    persona = pick(PROFILE_CELLS[persona_theme][0])
    keep = rng.random(3) < (0.6, 0.85, 0.85)  # the top theme often, the next two mostly
    themes = [t for t, k in zip(order[:3], keep, strict=True) if k and taste[t] >= 0.12]
    if rng.random() < 0.2:  # a theme the user does not really care about
        themes.append(rng.integers(len(taste)))
    clauses = list(dict.fromkeys(pick(PROFILE_CELLS[t][1]) for t in themes or order[:1]))
    if rng.random() < 0.5:
        persona = f"{rng.integers(19, 71)}-year-old {persona[0].lower()}{persona[1:]}"
    joined = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + f" and {clauses[-1]}"
    text = f"{persona[0].upper()}{persona[1:]} who {joined}."
    return text if habit is None or rng.random() < 0.5 else f"{text} {habit}"
