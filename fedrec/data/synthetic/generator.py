"""The built-in synthetic multi-scenario dataset (the default; no download needed).

Generative story, one seed for everything:

* ``SYNTHETIC_THEMES`` are latent tastes shared by every scenario. Each item has a
  dominant theme (and, for about a third of items, a secondary one) and its text is
  composed from hand-written word lists of that theme *in its scenario* (outdoors is
  hiking gear in e-commerce, campfire folk in music, national parks in the news), so a
  sentence-embedding model can relate items and users by meaning.
* Item popularity is a Zipf factor (rank^-1) within each scenario.
* A user has a sparse taste over the themes (Dirichlet, 1-3 dominant themes) that
  drifts slowly over their timeline, and activity weights over the scenarios (with
  ``scenario_taste`` above 0, a share of the taste is their own in each scenario:
  someone into outdoors gear may listen to jazz). Their
  history is a sequence of short sessions; a session leans towards one scenario and
  one theme. Items are drawn without repeats with probability proportional to
  ``exp(beta * affinity + gamma * log popularity + noise)``, so popularity is a real but
  beatable baseline and the last items of a user follow their recent ones.
* Ratings (1-5) rise with affinity; timestamps (int64 seconds) increase per user over
  2023. A ``profile_fraction`` of users get a one-sentence profile from their top themes,
  with noise (a wrong or extra theme now and then).

The catalog of a scenario depends only on ``(seed, scenario, items_per_scenario)``, so
it does not change with ``n_users`` or with the other scenarios chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np
import pandas as pd

from fedrec.data.schema import RecDataset
from fedrec.data.synthetic.catalog import scenario_catalog
from fedrec.data.synthetic.profiles import profile_table
from fedrec.data.synthetic.vocabulary import SYNTHETIC_SCENARIOS, SYNTHETIC_THEMES
from fedrec.data.validate import validate_dataset
from fedrec.errors import ConfigError

_EPOCH = 1_672_531_200  # 2023-01-01T00:00:00Z
_YEAR = 365 * 86_400
_BETA = 5.0  # weight of taste affinity (0..1) in the choice logit
_GAMMA = 0.75  # weight of log popularity in the choice logit
_NOISE_SD = 0.6  # per user-item idiosyncratic noise in the choice logit
_TASTE_ALPHA = 0.25  # Dirichlet concentration of tastes: small = few dominant themes
_ACTIVITY_ALPHA = 0.8  # Dirichlet concentration of scenario activity
_DRIFT = 0.35  # weight of a new taste mixed in by the end of a user's timeline
_SESSION_MEAN = 5  # mean events per session
_SESSION_THEME = 0.4  # how much a session leans to one theme
_SESSION_SCENARIO = 0.7  # how much a session leans to one scenario


@dataclass(frozen=True)
class SyntheticTruth:
    """The hidden generative state, for tests and sanity checks (never for training).

    ``item_theme`` maps each item id to its dominant theme; ``user_taste`` maps each
    user id to their taste over ``SYNTHETIC_THEMES`` (shape ``(n_themes,)``, sums to 1)
    at the start of their timeline (by its end, a share ``_DRIFT`` of it has moved to a
    new random taste; with ``scenario_taste`` above 0 it is the shared part of the
    tastes below). Profiles are written from this taste. ``item_weights`` (each
    item's theme weights), ``item_log_popularity`` and ``user_activity`` (each user's
    weights over the dataset's scenarios, in sorted order) are the rest of what the
    choice logit reads: :func:`oracle_scores` puts them together. With
    ``scenario_taste`` above 0, ``user_scenario_taste`` holds each user's taste in each
    scenario (shape ``(n_scenarios, n_themes)``, sorted order), which the choice logit
    reads instead of ``user_taste``; it is empty otherwise.
    """

    item_theme: dict[str, str]
    user_taste: dict[str, np.ndarray]
    item_weights: dict[str, np.ndarray] = field(default_factory=dict)
    item_log_popularity: dict[str, float] = field(default_factory=dict)
    user_activity: dict[str, np.ndarray] = field(default_factory=dict)
    user_scenario_taste: dict[str, np.ndarray] = field(default_factory=dict)


def oracle_scores(
    truth: SyntheticTruth, user_id: str, item_ids: Sequence[str], item_scenario: np.ndarray
) -> np.ndarray:
    """What the generator itself would score ``item_ids`` for a user who has not drifted
    (their starting taste and scenario activity; no session, drift or noise known):
    ``beta * affinity + gamma * log popularity + log activity(scenario)``. A reference
    for how much of the data's signal a model can reach, never a model. With tastes per
    scenario, each item is scored with the user's taste in its scenario."""
    weights = np.stack([truth.item_weights[i] for i in item_ids])
    log_pop = np.array([truth.item_log_popularity[i] for i in item_ids])
    if user_id in truth.user_scenario_taste:
        taste = truth.user_scenario_taste[user_id][item_scenario]  # (I, T)
        affinity = (weights * taste).sum(axis=1) / taste.max(axis=1)
    else:
        taste = truth.user_taste[user_id]
        affinity = weights @ taste / taste.max()
    activity = truth.user_activity[user_id][item_scenario]
    return _BETA * affinity + _GAMMA * log_pop + np.log(activity)


def _categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One draw per row of ``weights`` ``(J, K)`` (non-negative, unnormalised)."""
    cum = np.cumsum(weights, axis=1)
    return np.minimum(
        (cum < rng.random(len(cum))[:, None] * cum[:, -1:]).sum(axis=1), weights.shape[1] - 1
    )


def _history(
    rng: np.random.Generator,
    taste: np.ndarray,
    activity: np.ndarray,
    n_events: int,
    catalog: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One user's items ``(n_events,)`` in time order, their ratings and timestamps;
    ``taste`` is ``(T,)`` (one for every scenario) or ``(S, T)`` (one per scenario)."""
    weights, scen, log_pop, scen_onehot = catalog  # (I, T), (I,), (I,), (I, S)
    n_themes = weights.shape[1]
    alpha = np.full(n_themes, _TASTE_ALPHA)
    # A taste per scenario drifts on its own in each.
    new = rng.dirichlet(alpha) if taste.ndim == 1 else rng.dirichlet(alpha, size=len(taste))
    end_taste = (1 - _DRIFT) * taste + _DRIFT * new
    sizes = 1 + rng.poisson(_SESSION_MEAN - 1, size=n_events)
    n_sessions = int(np.searchsorted(np.cumsum(sizes), n_events)) + 1
    sizes = sizes[:n_sessions]
    sizes[-1] -= sizes.sum() - n_events
    starts = np.cumsum(sizes) - sizes
    tau = (starts + sizes / 2) / n_events  # (J,) position of each session in the timeline
    tau = tau.reshape(-1, *([1] * taste.ndim))
    now = (1 - tau) * taste + tau * end_taste  # (J, T) or (J, S, T): drifting taste
    sessions = np.arange(n_sessions)
    scen_w = (1 - _SESSION_SCENARIO) * np.tile(activity, (n_sessions, 1))  # (J, S)
    session_taste = (1 - _SESSION_THEME) * now
    if taste.ndim == 1:  # one taste: a session's theme, then its scenario
        session_taste[sessions, _categorical(rng, now)] += _SESSION_THEME
        aff = session_taste @ weights.T / session_taste.max(axis=1, keepdims=True)
        scen_w[sessions, _categorical(rng, scen_w)] += _SESSION_SCENARIO
    else:  # a taste per scenario: a session's scenario, then its theme there
        main = _categorical(rng, scen_w)
        session_taste[sessions, main, _categorical(rng, now[sessions, main])] += _SESSION_THEME
        per_scenario = session_taste @ weights.T / session_taste.max(axis=2, keepdims=True)
        aff = per_scenario[:, scen, np.arange(len(scen))]  # each item under its own scenario
        scen_w[sessions, main] += _SESSION_SCENARIO
    # aff: (J, I) in [0, 1], each session's affinity to each item
    score = _BETA * aff + _GAMMA * log_pop + rng.normal(0.0, _NOISE_SD, size=len(scen))
    log_z = np.log(np.exp(score) @ scen_onehot)  # (J, S) per-scenario normaliser
    logit = np.log(scen_w)[:, scen] + score - log_z[:, scen] + rng.gumbel(size=score.shape)
    taken = np.zeros(len(scen), dtype=bool)
    items: list[np.ndarray] = []
    affinity: list[np.ndarray] = []
    for j, size in enumerate(sizes):  # Gumbel top-k per session = sampling without repeats
        row = np.where(taken, -np.inf, logit[j])
        top = np.argpartition(-row, size - 1)[:size]
        top = top[np.argsort(-row[top])]
        taken[top] = True
        items.append(top)
        affinity.append(aff[j, top])
    aff_all = np.concatenate(affinity)
    raw = 1.8 + 2.4 * aff_all + rng.normal(0.0, 0.4) + rng.normal(0.0, 0.7, size=n_events)
    ratings = np.clip(np.rint(raw), 1, 5)
    start = rng.uniform(0, 0.4 * _YEAR)
    span = rng.uniform(0.3, 1.0) * (_YEAR - start - 5 * 86_400)
    gaps = 30 + rng.exponential(240.0, size=n_events)  # seconds between clicks of a session
    gaps[starts] += span * rng.dirichlet(np.ones(n_sessions))  # days between sessions
    stamps = _EPOCH + int(start) + np.cumsum(gaps.astype(np.int64))
    return np.concatenate(items), ratings, stamps


def _check(name: str, value: object, ok: bool, fix: str) -> None:
    if not ok:
        raise ConfigError(f"generate_synthetic: {name}={value!r} is not allowed. Fix: {fix}.")


def _validate(
    n_users: int,
    items_per_scenario: int,
    scenarios: Sequence[str],
    interactions_per_user: int,
    profile_fraction: float,
    seed: int,
) -> None:
    def is_int(v: object) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    _check("n_users", n_users, is_int(n_users) and n_users >= 1, "use an integer >= 1")
    _check(
        "items_per_scenario",
        items_per_scenario,
        is_int(items_per_scenario) and items_per_scenario >= 5,
        "use an integer >= 5",
    )
    known = ", ".join(SYNTHETIC_SCENARIOS)
    _check(
        "scenarios",
        scenarios,
        not isinstance(scenarios, str) and len(scenarios) > 0,
        f"give a non-empty list of scenario names, e.g. ['music'], from: {known}",
    )
    for name in scenarios:
        _check("scenarios", name, name in SYNTHETIC_SCENARIOS, f"use scenarios from: {known}")
    _check("scenarios", scenarios, len(set(scenarios)) == len(scenarios), "list each scenario once")
    n_items = items_per_scenario * len(scenarios)
    _check(
        "interactions_per_user",
        interactions_per_user,
        is_int(interactions_per_user) and 3 <= interactions_per_user < n_items,
        f"use an integer >= 3 and below the number of items ({n_items}), or raise "
        "items_per_scenario",
    )
    _check(
        "profile_fraction",
        profile_fraction,
        isinstance(profile_fraction, (int, float)) and 0.0 <= profile_fraction <= 1.0,
        "use a number between 0 and 1",
    )
    _check("seed", seed, is_int(seed) and seed >= 0, "use an integer >= 0")


@overload
def generate_synthetic(
    *,
    n_users: int = ...,
    items_per_scenario: int = ...,
    scenarios: Sequence[str] = ...,
    interactions_per_user: int = ...,
    profile_fraction: float = ...,
    scenario_taste: float = ...,
    seed: int = ...,
    return_truth: Literal[False] = ...,
) -> RecDataset: ...
@overload
def generate_synthetic(
    *,
    n_users: int = ...,
    items_per_scenario: int = ...,
    scenarios: Sequence[str] = ...,
    interactions_per_user: int = ...,
    profile_fraction: float = ...,
    scenario_taste: float = ...,
    seed: int = ...,
    return_truth: Literal[True],
) -> tuple[RecDataset, SyntheticTruth]: ...
def generate_synthetic(
    *,
    n_users: int = 600,
    items_per_scenario: int = 200,
    scenarios: Sequence[str] = ("ecommerce", "music", "news"),
    interactions_per_user: int = 20,
    profile_fraction: float = 1.0,
    scenario_taste: float = 0.0,
    seed: int = 0,
    return_truth: bool = False,
) -> RecDataset | tuple[RecDataset, SyntheticTruth]:
    """Generate the synthetic multi-scenario dataset (deterministic in ``seed``).

    Args:
        n_users: number of users (ids ``u00000`` ...).
        items_per_scenario: catalog size of each scenario (ids ``music-00042`` ...).
        scenarios: names from ``SYNTHETIC_SCENARIOS``.
        interactions_per_user: mean history length; each user gets a lognormal count
            around it, at least ``min(5, interactions_per_user)``.
        profile_fraction: share of users with a profile text; 0 gives ``profiles=None``.
        scenario_taste: share of a user's taste that is their own in each scenario
            (0: one ranking of the themes everywhere; 1: unrelated tastes). Profiles
            describe the shared part. A share above 0 draws histories in another
            order: share 0 against a small share compares two samples.
        seed: the only source of randomness; equal seeds give identical tables.
        return_truth: also return the hidden :class:`SyntheticTruth`.

    Raises:
        ConfigError: a parameter out of range, naming it and the fix.
    """
    _validate(n_users, items_per_scenario, scenarios, interactions_per_user, profile_fraction, seed)
    names = sorted(scenarios)  # item ids sort by scenario first
    parts = [scenario_catalog(s, items_per_scenario, seed) for s in names]
    items = pd.concat([p[0] for p in parts], ignore_index=True)
    scen = np.repeat(np.arange(len(names)), items_per_scenario)
    catalog = (
        np.concatenate([p[1] for p in parts]),
        scen,
        np.concatenate([p[2] for p in parts]),
        np.eye(len(names))[scen],
    )
    item_ids = items["item_id"].to_numpy()

    rng = np.random.default_rng([seed, 2])
    n_themes = len(SYNTHETIC_THEMES)
    tastes = rng.dirichlet(np.full(n_themes, _TASTE_ALPHA), size=n_users)
    activity = rng.dirichlet(np.full(len(names), _ACTIVITY_ALPHA), size=n_users) + 0.02
    activity /= activity.sum(axis=1, keepdims=True)
    floor = min(5, interactions_per_user)
    counts = np.rint(interactions_per_user * np.exp(rng.normal(-0.125, 0.5, size=n_users)))
    counts = np.clip(counts, floor, len(items)).astype(int)
    width = max(5, len(str(n_users - 1)))
    user_ids = [f"u{u:0{width}d}" for u in range(n_users)]
    own = _scenario_tastes(seed, scenario_taste, n_users, len(names), tastes)
    histories = [
        _history(rng, tastes[u] if own is None else own[u], activity[u], int(counts[u]), catalog)
        for u in range(n_users)
    ]
    interactions = pd.DataFrame(
        {
            "user_id": np.repeat(user_ids, counts),
            "item_id": item_ids[np.concatenate([h[0] for h in histories])],
            "timestamp": np.concatenate([h[2] for h in histories]).astype(np.int64),
            "rating": np.concatenate([h[1] for h in histories]).astype(np.float64),
        }
    )

    profiles = profile_table(seed, profile_fraction, user_ids, tastes, activity, names)
    ds = validate_dataset(
        RecDataset("synthetic", items, interactions, profiles), source="synthetic generator"
    )
    if not return_truth:
        return ds
    return ds, _truth(item_ids, catalog, user_ids, tastes, activity, own)


def _truth(
    item_ids: np.ndarray,
    catalog: tuple[np.ndarray, ...],
    user_ids: list[str],
    tastes: np.ndarray,
    activity: np.ndarray,
    own: np.ndarray | None,
) -> SyntheticTruth:
    weights, _, log_pop, _ = catalog
    dominant = np.argmax(weights, axis=1)
    return SyntheticTruth(
        item_theme={i: SYNTHETIC_THEMES[t] for i, t in zip(item_ids, dominant, strict=True)},
        user_taste={u: tastes[k] for k, u in enumerate(user_ids)},
        item_weights=dict(zip(item_ids, weights, strict=True)),
        item_log_popularity=dict(zip(item_ids, log_pop.tolist(), strict=True)),
        user_activity={u: activity[k] for k, u in enumerate(user_ids)},
        user_scenario_taste={} if own is None else {u: own[k] for k, u in enumerate(user_ids)},
    )


def _scenario_tastes(
    seed: int, share: float, n_users: int, n_scenarios: int, tastes: np.ndarray
) -> np.ndarray | None:
    """``(U, S, T)`` tastes, one per user and scenario: ``1 - share`` of the user's
    taste and ``share`` of a taste of their own in that scenario (None at share 0: one
    taste for every scenario). Drawn from a stream nothing else reads (the profiles
    read ``[seed, 3]``), after the tastes, activities and history lengths, which
    stay those of ``share = 0``."""
    _check(
        "scenario_taste",
        share,
        isinstance(share, (int, float)) and 0.0 <= share <= 1.0,
        "use a number between 0 and 1",
    )
    if share == 0:
        return None
    rng = np.random.default_rng([seed, 4])
    alpha = np.full(tastes.shape[1], _TASTE_ALPHA)
    own = rng.dirichlet(alpha, size=(n_users, n_scenarios))
    return (1 - share) * tastes[:, None, :] + share * own
