"""Tests of the built-in synthetic multi-scenario generator."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from fedrec.data.schema import INTERACTION_COLUMNS, ITEM_COLUMNS, PROFILE_COLUMNS, RecDataset
from fedrec.data.synthetic import (
    SYNTHETIC_SCENARIOS,
    SYNTHETIC_THEMES,
    SyntheticTruth,
    generate_synthetic,
    oracle_scores,
)
from fedrec.errors import ConfigError

SMALL = {"n_users": 200, "items_per_scenario": 60, "interactions_per_user": 15}
EPOCH_2023 = 1_672_531_200
YEAR = 365 * 86_400


@pytest.fixture(scope="module")
def small() -> tuple[RecDataset, SyntheticTruth]:
    return generate_synthetic(**SMALL, seed=3, return_truth=True)


@pytest.fixture(scope="module")
def default() -> tuple[RecDataset, SyntheticTruth]:
    return generate_synthetic(return_truth=True)


def _themes_of(ds: RecDataset, truth: SyntheticTruth) -> pd.Series:
    """Dominant theme of every interaction's item."""
    return ds.interactions["item_id"].map(truth.item_theme)


def test_same_seed_gives_identical_tables() -> None:
    a = generate_synthetic(**SMALL, seed=7)
    b = generate_synthetic(**SMALL, seed=7)
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    assert a.profiles is not None and b.profiles is not None
    pd.testing.assert_frame_equal(a.profiles, b.profiles)


def test_different_seeds_differ() -> None:
    a = generate_synthetic(**SMALL, seed=1)
    b = generate_synthetic(**SMALL, seed=2)
    assert not a.items["title"].equals(b.items["title"])
    assert not a.interactions["item_id"].equals(b.interactions["item_id"])
    assert not a.profiles["profile"].equals(b.profiles["profile"])  # type: ignore[index]


def test_schema_and_dtypes(small: tuple[RecDataset, SyntheticTruth]) -> None:
    ds, _ = small
    assert tuple(ds.items.columns) == ITEM_COLUMNS
    assert tuple(ds.interactions.columns) == INTERACTION_COLUMNS
    assert ds.profiles is not None and tuple(ds.profiles.columns) == PROFILE_COLUMNS
    for column in ("item_id", "title", "attributes", "scenario"):
        assert pd.api.types.is_string_dtype(ds.items[column])
    assert ds.interactions["timestamp"].dtype == np.int64
    assert ds.interactions["rating"].dtype == np.float64
    ratings = ds.interactions["rating"]
    assert ratings.between(1, 5).all() and (ratings % 1 == 0).all()
    assert ratings.nunique() == 5


def test_ids_order_and_integrity(small: tuple[RecDataset, SyntheticTruth]) -> None:
    ds, _ = small
    items, inter = ds.items, ds.interactions
    assert items["item_id"].is_unique and items["item_id"].is_monotonic_increasing
    assert items["item_id"].str.fullmatch(r"(ecommerce|music|news)-\d{5}").all()
    assert inter["user_id"].str.fullmatch(r"u\d{5}").all()
    assert inter["item_id"].isin(items["item_id"]).all()
    assert not inter.duplicated(["user_id", "item_id"]).any()
    assert inter["user_id"].is_monotonic_increasing
    steps = inter.groupby("user_id")["timestamp"].diff().dropna()
    assert (steps > 0).all()  # strictly increasing within a user
    assert inter["timestamp"].min() >= EPOCH_2023
    assert inter["timestamp"].max() < EPOCH_2023 + YEAR + 7 * 86_400
    assert inter["timestamp"].max() - inter["timestamp"].min() > YEAR / 2


def test_sizes(small: tuple[RecDataset, SyntheticTruth]) -> None:
    ds, truth = small
    assert len(ds.items) == 3 * SMALL["items_per_scenario"]
    counts = ds.interactions.groupby("user_id").size()
    assert len(counts) == SMALL["n_users"]
    assert counts.min() >= 5 and counts.nunique() > 5  # varies per user
    assert abs(counts.mean() - SMALL["interactions_per_user"]) < 3
    assert set(truth.item_theme) == set(ds.items["item_id"])
    assert set(truth.user_taste) == set(counts.index)
    taste = np.stack(list(truth.user_taste.values()))
    assert taste.shape[1] == len(SYNTHETIC_THEMES)
    np.testing.assert_allclose(taste.sum(axis=1), 1.0)


def test_every_scenario_present_and_users_span_them(
    small: tuple[RecDataset, SyntheticTruth],
) -> None:
    ds, _ = small
    assert ds.scenarios == ["ecommerce", "music", "news"]
    scen = ds.interactions["item_id"].str.split("-").str[0]
    assert set(scen) == {"ecommerce", "music", "news"}
    per_user = scen.groupby(ds.interactions["user_id"]).nunique()
    assert per_user.mean() > 1.5


def test_all_known_scenarios_and_a_single_one() -> None:
    ds = generate_synthetic(n_users=20, items_per_scenario=20, scenarios=SYNTHETIC_SCENARIOS)
    assert ds.scenarios == sorted(SYNTHETIC_SCENARIOS)
    assert (ds.items.groupby("scenario").size() == 20).all()
    one = generate_synthetic(n_users=20, items_per_scenario=30, scenarios=["music"])
    assert one.scenarios == ["music"] and len(one.items) == 30


def test_catalog_does_not_depend_on_users_or_other_scenarios() -> None:
    alone = generate_synthetic(n_users=5, items_per_scenario=40, scenarios=["news"])
    mixed = generate_synthetic(n_users=50, items_per_scenario=40, scenarios=["music", "news"])
    news = mixed.items[mixed.items["scenario"] == "news"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.items, news)


def test_titles_unique_within_a_scenario_even_for_large_catalogs() -> None:
    ds = generate_synthetic(
        n_users=1, items_per_scenario=1500, interactions_per_user=3, scenarios=SYNTHETIC_SCENARIOS
    )
    assert not ds.items.duplicated(["scenario", "title"]).any()


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2}


def test_text_carries_the_theme(small: tuple[RecDataset, SyntheticTruth]) -> None:
    """Items of one theme share more vocabulary than items of different themes."""
    ds, truth = small
    text = pd.Series(ds.item_text(), index=ds.items.index)
    same, other = [], []
    for _, group in ds.items.groupby("scenario"):
        words = [_words(t) for t in text[group.index]]
        frequent = {w for w in set().union(*words) if sum(w in ws for ws in words) > len(words) / 3}
        words = [ws - frequent for ws in words]  # field names such as "genre", "price"
        themes = group["item_id"].map(truth.item_theme).tolist()
        for i in range(len(words)):
            for j in range(i + 1, len(words)):
                jaccard = len(words[i] & words[j]) / max(1, len(words[i] | words[j]))
                (same if themes[i] == themes[j] else other).append(jaccard)
    assert np.mean(same) > 3 * np.mean(other)


def test_users_concentrate_on_their_top_themes(
    small: tuple[RecDataset, SyntheticTruth],
) -> None:
    ds, truth = small
    top = ds.interactions["user_id"].map(
        {u: SYNTHETIC_THEMES[int(np.argmax(t))] for u, t in truth.user_taste.items()}
    )
    on_top = _themes_of(ds, truth) == top
    assert on_top.mean() > 2.5 / len(SYNTHETIC_THEMES)  # chance is 1 / n_themes
    assert on_top.mean() < 0.8  # ... but not only there
    ratings = ds.interactions["rating"]
    assert ratings[on_top].mean() > ratings[~on_top].mean() + 0.3


def test_recent_items_predict_the_last_one(small: tuple[RecDataset, SyntheticTruth]) -> None:
    """Sessions and drift: the last item follows the previous one more than the first."""
    ds, truth = small
    themes = _themes_of(ds, truth).groupby(ds.interactions["user_id"]).agg(list)
    last_vs_previous = np.mean([t[-1] == t[-2] for t in themes])
    last_vs_first = np.mean([t[-1] == t[0] for t in themes])
    assert last_vs_previous > last_vs_first + 0.1


def test_popularity_is_long_tailed(default: tuple[RecDataset, SyntheticTruth]) -> None:
    ds, _ = default
    counts = ds.interactions["item_id"].value_counts().reindex(ds.items["item_id"], fill_value=0)
    counts = np.sort(counts.to_numpy())[::-1]
    top_share = counts[: len(counts) // 10].sum() / counts.sum()
    assert 0.2 < top_share < 0.6
    assert (counts > 0).mean() > 0.9  # the tail is still reachable


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_users": 0}, "n_users"),
        ({"n_users": 2.5}, "n_users"),
        ({"items_per_scenario": 4}, "items_per_scenario"),
        ({"interactions_per_user": 2}, "interactions_per_user"),
        (
            {"items_per_scenario": 5, "scenarios": ["music"], "interactions_per_user": 5},
            "interactions_per_user",
        ),
        ({"profile_fraction": 1.5}, "profile_fraction"),
        ({"profile_fraction": -0.1}, "profile_fraction"),
        ({"scenarios": []}, "scenarios"),
        ({"scenarios": "music"}, "scenarios"),
        ({"scenarios": ["music", "music"]}, "scenarios"),
        ({"seed": -1}, "seed"),
        ({"scenario_taste": 1.5}, "scenario_taste"),
        ({"scenario_taste": -0.1}, "scenario_taste"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=rf"{name}="):
        generate_synthetic(**{"n_users": 5, "items_per_scenario": 10, **kwargs})  # type: ignore[arg-type]


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="podcasts") as err:
        generate_synthetic(n_users=5, scenarios=["music", "podcasts"])
    for known in SYNTHETIC_SCENARIOS:
        assert known in str(err.value)


@pytest.mark.parametrize("fraction", [0.0, 0.25, 1.0])
def test_profile_fraction(fraction: float) -> None:
    ds = generate_synthetic(n_users=40, items_per_scenario=20, profile_fraction=fraction)
    if fraction == 0.0:
        assert ds.profiles is None
        return
    assert ds.profiles is not None
    assert len(ds.profiles) == round(fraction * 40)
    assert ds.profiles["user_id"].is_unique
    assert ds.profiles["user_id"].isin(ds.interactions["user_id"]).all()
    assert ds.profiles["profile"].str.fullmatch(r"[A-Z0-9].{10,}\.").all()


def test_oracle_scores_are_the_choice_logit_of_a_user_who_has_not_drifted(
    small: tuple[RecDataset, SyntheticTruth],
) -> None:
    ds, truth = small
    user = str(ds.interactions.user_id.iloc[0])
    items = ds.items.item_id.astype(str).tolist()[:4]
    scenarios = sorted(ds.items.scenario.unique())
    item_scenario = np.array([scenarios.index(s) for s in ds.items.scenario[:4]])
    taste, activity = truth.user_taste[user], truth.user_activity[user]
    assert activity.shape == (len(scenarios),) and activity.sum() == pytest.approx(1.0)
    expected = [
        5.0 * truth.item_weights[i] @ taste / taste.max()
        + 0.75 * truth.item_log_popularity[i]
        + np.log(activity[s])
        for i, s in zip(items, item_scenario, strict=True)
    ]
    got = oracle_scores(truth, user, items, item_scenario)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # The most popular item of a scenario has log popularity 0 (Zipf rank 1).
    assert max(truth.item_log_popularity.values()) == 0.0


def _cross_scenario_agreement(ds: RecDataset, truth: SyntheticTruth) -> float:
    """Mean cosine between one user's theme counts in two scenarios (pairs where the
    user took at least 3 themes' worth of items in each)."""
    df = ds.interactions.merge(ds.items[["item_id", "scenario"]], on="item_id")
    df["theme"] = df["item_id"].map(truth.item_theme)
    counts = df.groupby(["user_id", "scenario", "theme"]).size().unstack(fill_value=0)
    cosines = []
    for _, user in counts.groupby(level="user_id"):
        rows = user.to_numpy(dtype=float)
        rows = rows[(rows > 0).sum(axis=1) >= 3]
        unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        gram = unit @ unit.T
        cosines.extend(gram[np.triu_indices(len(rows), k=1)])
    assert len(cosines) > 50
    return float(np.mean(cosines))


def test_a_taste_of_their_own_in_each_scenario_sets_the_scenarios_apart(
    small: tuple[RecDataset, SyntheticTruth],
) -> None:
    shared_ds, shared = small
    ds, truth = generate_synthetic(**SMALL, seed=3, scenario_taste=0.8, return_truth=True)
    # One taste: what a user takes in one scenario looks like what they take in another.
    # A taste of their own in each: much less so.
    assert _cross_scenario_agreement(ds, truth) < _cross_scenario_agreement(shared_ds, shared) - 0.2
    # Their items follow their taste in the item's scenario, not the shared one.
    scenarios = sorted(ds.items["scenario"].unique())
    df = ds.interactions.merge(ds.items[["item_id", "scenario"]], on="item_id")
    own_top = [
        SYNTHETIC_THEMES[int(np.argmax(truth.user_scenario_taste[u][scenarios.index(s)]))]
        for u, s in zip(df["user_id"], df["scenario"], strict=True)
    ]
    shared_top = df["user_id"].map(
        {u: SYNTHETIC_THEMES[int(np.argmax(t))] for u, t in truth.user_taste.items()}
    )
    themes = df["item_id"].map(truth.item_theme).to_numpy()
    assert np.mean(themes == np.array(own_top)) > np.mean(themes == shared_top.to_numpy()) + 0.1
    # The rest of a user (taste, activity, history length, profile) is that of share 0.
    assert not shared.user_scenario_taste
    for u in shared.user_taste:
        np.testing.assert_array_equal(truth.user_taste[u], shared.user_taste[u])
        np.testing.assert_array_equal(truth.user_activity[u], shared.user_activity[u])
    sizes = ds.interactions.groupby("user_id").size()
    pd.testing.assert_series_equal(sizes, shared_ds.interactions.groupby("user_id").size())
    pd.testing.assert_frame_equal(ds.profiles, shared_ds.profiles)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(ds.items, shared_ds.items)


def test_oracle_scores_each_item_with_the_users_taste_in_its_scenario() -> None:
    ds, truth = generate_synthetic(**SMALL, seed=3, scenario_taste=0.5, return_truth=True)
    user = str(ds.interactions.user_id.iloc[0])
    scenarios = sorted(ds.items.scenario.unique())
    picked = ds.items.groupby("scenario").head(2)  # two items of every scenario
    items = picked.item_id.astype(str).tolist()
    item_scenario = np.array([scenarios.index(s) for s in picked.scenario])
    tastes, activity = truth.user_scenario_taste[user], truth.user_activity[user]
    assert tastes.shape == (len(scenarios), len(SYNTHETIC_THEMES))
    np.testing.assert_allclose(tastes.sum(axis=1), 1.0)
    expected = [
        5.0 * truth.item_weights[i] @ tastes[s] / tastes[s].max()
        + 0.75 * truth.item_log_popularity[i]
        + np.log(activity[s])
        for i, s in zip(items, item_scenario, strict=True)
    ]
    np.testing.assert_allclose(oracle_scores(truth, user, items, item_scenario), expected)


class _Recorder:
    """A generator that records the shape of each Dirichlet draw."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.dirichlet_sizes = rng, []

    def dirichlet(self, alpha: np.ndarray, size: object = None) -> np.ndarray:
        self.dirichlet_sizes.append(size)
        return self.rng.dirichlet(alpha, size=size)

    def __getattr__(self, name: str) -> object:
        return getattr(self.rng, name)


def test_each_scenarios_taste_drifts_on_its_own() -> None:
    from fedrec.data.synthetic.generator import _history

    n_items, n_themes, n_scenarios = 12, len(SYNTHETIC_THEMES), 3
    scen = np.repeat(np.arange(n_scenarios), n_items // n_scenarios)
    weights = np.eye(n_themes)[np.arange(n_items) % n_themes]
    catalog = (weights, scen, np.zeros(n_items), np.eye(n_scenarios)[scen])
    tastes = np.full((n_scenarios, n_themes), 1 / n_themes)
    rng = _Recorder(np.random.default_rng(0))
    items, _, _ = _history(rng, tastes, np.full(3, 1 / 3), 8, catalog)  # type: ignore[arg-type]
    # The drift's new taste is drawn first: one per scenario (then the session gaps).
    assert rng.dirichlet_sizes == [n_scenarios, None]
    assert len(set(items.tolist())) == 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scenarios": ["music"], "scenario_taste": 1.0},
        {"scenario_taste": 1},
        {"scenarios": list(SYNTHETIC_SCENARIOS), "scenario_taste": 0.3},
    ],
)
def test_tastes_per_scenario_at_the_edges(kwargs: dict[str, object]) -> None:
    ds, truth = generate_synthetic(
        n_users=20, items_per_scenario=10, interactions_per_user=6, return_truth=True, **kwargs
    )  # type: ignore[call-overload]
    n_scenarios = ds.items["scenario"].nunique()
    assert {t.shape for t in truth.user_scenario_taste.values()} == {
        (n_scenarios, len(SYNTHETIC_THEMES))
    }
    assert len(truth.user_scenario_taste) == 20
    assert not ds.interactions.duplicated(["user_id", "item_id"]).any()
