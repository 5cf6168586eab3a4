"""The Python API: what a request can carry, what it gets back, and new items."""

import numpy as np
import pandas as pd
import pytest
import torch

from fedrec.models.recommender import COLD_CLICKS
from fedrec.serving import Recommender, ServingError


def _ids(result):
    return [i.item_id for i in result.items]


def test_history_items_are_never_recommended_and_exclude_removes_more(recommender):
    history = list(recommender.items.item_id[:4])
    first = recommender.recommend(history=history, k=10)
    assert len(first.items) == 10 and not set(_ids(first)) & set(history)
    scores = [i.score for i in first.items]
    assert scores == sorted(scores, reverse=True)
    again = recommender.recommend(history=history, k=10, exclude=_ids(first)[:3])
    assert not set(_ids(again)) & set(_ids(first)[:3])
    assert _ids(again)[:7] == _ids(first)[3:]


def test_the_scores_are_the_exact_top_k(recommender):
    history = list(recommender.items.item_id[5:8])
    result = recommender.recommend(history=history, k=5)
    user, _ = recommender._user([recommender.row[i] for i in history], None)
    scores = recommender.index.scores(user)
    scores[[recommender.row[i] for i in history]] = -np.inf
    best = np.argsort(-scores, kind="stable")[:5]
    assert _ids(result) == [str(recommender.items.item_id[r]) for r in best]
    np.testing.assert_allclose([i.score for i in result.items], scores[best], rtol=1e-5)


def test_a_scenario_restricts_the_ranking_to_its_items(recommender):
    for scenario in recommender.scenarios:
        result = recommender.recommend(history=[recommender.items.item_id[0]], scenario=scenario)
        assert result.items and {i.scenario for i in result.items} == {scenario}


def test_cold_start_with_nothing_or_a_profile(recommender):
    nothing = recommender.recommend(k=5)
    assert nothing.cold_start and len(nothing.items) == 5
    assert "nothing is known about you" in nothing.items[0].explanation
    profile = recommender.recommend(profile="weekend hiker who loves camping gear", k=5)
    assert not profile.cold_start
    assert "your profile" in profile.items[0].explanation
    assert [i.score for i in profile.items] != [i.score for i in nothing.items]


def test_unknown_ids_are_ignored_with_a_warning(recommender):
    known = str(recommender.items.item_id[0])
    result = recommender.recommend(history=["no-such-item", known], exclude=["nor-this"])
    assert any("no-such-item" in w for w in result.warnings)
    assert any("nor-this" in w for w in result.warnings)
    assert result.items and known not in _ids(result)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"history": ["nope-1", "nope-2"]}, "none of the history"),
        ({"history": ["nope-1"], "profile": "   "}, "none of the history"),  # no profile
        ({"scenario": "cooking"}, "ecommerce"),
        ({"k": 0}, "k >= 1"),
    ],
)
def test_requests_that_cannot_be_served_say_why(recommender, kwargs, message):
    with pytest.raises(ServingError, match=message):
        recommender.recommend(**kwargs)


def test_diversity_re_ranks_the_best_for_variety(recommender):
    """diversity=0 is the plain ranking; diversity re-ranks within the 50 best; at 1 the
    second item is the one of those least like the first (cosine of their vectors)."""
    history = list(recommender.items.item_id[:3])
    pool = _ids(recommender.recommend(history=history, k=50))
    assert _ids(recommender.recommend(history=history, k=10, diversity=0.0)) == pool[:10]
    varied = recommender.recommend(history=history, k=10, diversity=0.8)
    assert len(varied.items) == 10 and set(_ids(varied)) <= set(pool)
    first, second = _ids(recommender.recommend(history=history, k=2, diversity=1.0))
    assert first == pool[0]  # the first pick is the best item
    v = recommender.index.vectors[[recommender.row[i] for i in pool]]
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert second == pool[1 + int(np.argmin(v[1:] @ v[0]))]
    with pytest.raises(ServingError, match="diversity=2"):
        recommender.recommend(history=history, diversity=2.0)


def test_explanations_add_up_to_the_score(recommender):
    """Members' terms + the head's constant + the item's offset = the score, exactly."""
    rows = [recommender.row[str(i)] for i in recommender.items.item_id[10:13]]
    user, (members, constant) = recommender._user(rows, "a jazz lover")
    assert [m.label for m in members][-1] == "your profile" and len(members) == 4
    vectors, offsets = recommender.index.vectors, recommender.index.offsets
    for item in range(0, len(vectors), 7):
        parts = sum(float(m.vector @ vectors[item]) for m in members)
        total = parts + float(constant @ vectors[item]) + float(offsets[item])
        assert total == pytest.approx(recommender.index.scores(user)[item], abs=1e-4)


def test_similar_items(recommender):
    item = str(recommender.items.item_id[2])
    similar = recommender.similar(item, k=4)
    assert len(similar) == 4 and item not in [s.item_id for s in similar]
    assert [s.score for s in similar] == sorted((s.score for s in similar), reverse=True)
    with pytest.raises(ServingError, match="not in the catalog"):
        recommender.similar("no-such-item")


def test_a_new_item_is_rankable_at_once_and_kept(fresh_bundle):
    rec = Recommender.load(fresh_bundle)
    texts = ["jazz trumpet live at the harbour", "quantum sensors for farms", "knitting for cats"]
    rec.add_items(
        [{"item_id": f"new-{n}", "title": t, "scenario": "fresh"} for n, t in enumerate(texts)]
    )
    assert "fresh" in rec.scenarios
    for n, text in enumerate(texts):
        top = rec.recommend(profile=text, scenario="fresh", k=3)
        assert top.items[0].item_id == f"new-{n}"  # its own text is its best match
    again = Recommender.load(fresh_bundle)  # a restart keeps them, with their vectors
    assert again.item("new-1")["added"] is True
    np.testing.assert_allclose(
        again.index.vectors[again.row["new-1"]], rec.index.vectors[rec.row["new-1"]], atol=1e-6
    )
    assert _ids(again.recommend(profile=texts[2], scenario="fresh", k=1)) == ["new-2"]


def test_a_refused_insertion_changes_nothing(fresh_bundle):
    rec = Recommender.load(fresh_bundle)
    rec.add_items([{"item_id": "new-a", "title": "A first new item", "scenario": "music"}])
    before = (fresh_bundle / "added_items.parquet").read_bytes()
    known = str(rec.items.item_id[0])
    for rows in (
        [{"item_id": known, "title": "a clash"}],
        [{"item_id": "x", "title": "one"}, {"item_id": "x", "title": "twice"}],
        [{"item_id": "y", "title": "  "}],
    ):
        with pytest.raises(ServingError):
            rec.add_items(rows)
    assert (fresh_bundle / "added_items.parquet").read_bytes() == before
    assert len(pd.read_parquet(fresh_bundle / "added_items.parquet")) == 1
    assert "x" not in rec.row and "y" not in rec.row


def test_requests_keep_their_thread_setting_after_an_insertion(fresh_bundle):
    before = torch.get_num_threads()
    try:
        rec = Recommender.load(fresh_bundle, threads=1)
        assert torch.get_num_threads() == 1
        rec.add_items([{"item_id": "new-t", "title": "A threaded item", "scenario": "music"}])
        assert torch.get_num_threads() == 1  # insertion borrows every core, then gives back
        assert rec.item("new-t")["added"] is True
        assert len(rec.recommend(profile="A threaded item", k=3).items) == 3
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def _trained(tmp_path_factory, tiny_overrides, name: str, *extra: str) -> Recommender:
    """A tiny run trained with the config keys ``extra``, loaded for serving."""
    from typer.testing import CliRunner

    from fedrec.cli import app

    from .conftest import sets

    out = tmp_path_factory.mktemp(name) / "run"
    keys = [*tiny_overrides, "baselines=popularity", *extra]
    result = CliRunner().invoke(app, ["train", "--quiet", "--out", str(out), *sets(keys)])
    assert result.exit_code == 0, result.output
    return Recommender.load(out)


def _assert_explains_exactly(rec: Recommender, user: np.ndarray, members, constant) -> None:
    """The explanation's members, constant and item offsets sum to every fifth score."""
    vectors, offsets = rec.index.vectors, rec.index.offsets
    for item in range(0, len(vectors), 5):
        parts = sum(float(m.vector @ vectors[item]) for m in members)
        total = parts + float(constant @ vectors[item]) + float(offsets[item])
        assert total == pytest.approx(rec.index.scores(user)[item], abs=1e-4)


@pytest.fixture(scope="module")
def scenario_recommender(tmp_path_factory, tiny_overrides):
    """A run whose model takes the scenario as an input."""
    return _trained(tmp_path_factory, tiny_overrides, "scenario", "scenario-input=true")


def test_a_scenario_request_conditions_the_user_and_still_explains_exactly(scenario_recommender):
    rec = scenario_recommender
    model = rec.model
    assert model.scenario_embedding is not None
    assert float(model.scenario_embedding.weight.abs().sum()) > 0  # trained
    rows = [rec.row[str(i)] for i in rec.items.item_id[10:13]]
    plain, _ = rec._user(rows, "a jazz lover")
    for scenario in rec.scenarios:
        user, (members, constant) = rec._user(rows, "a jazz lover", scenario)
        assert not np.allclose(user, plain)  # the request's scenario is an input
        _assert_explains_exactly(rec, user, members, constant)
        result = rec.recommend(history=[rec._ids[r] for r in rows], scenario=scenario, k=3)
        assert {i.scenario for i in result.items} == {scenario}
        best = rec.index.scores(user)
        best[rows] = -np.inf
        best[rec._scenario_of != rec._scenario_code[scenario]] = -np.inf
        assert result.items[0].item_id == rec._ids[int(np.argmax(best))]


@pytest.fixture(scope="module")
def cold_tower_recommender(tmp_path_factory, tiny_overrides):
    """A run whose users with few clicks have a tower of their own, trained on their
    first clicks."""
    return _trained(tmp_path_factory, tiny_overrides, "cold-tower", "cold-head=true")


def test_a_cold_tower_serves_short_histories_and_still_explains_exactly(cold_tower_recommender):
    rec = cold_tower_recommender
    model = rec.model
    assert model.cold_head is not None
    assert not torch.equal(model.cold_head.weight, torch.eye(model.cold_head.in_features))
    rows = [rec.row[str(i)] for i in rec.items.item_id[: COLD_CLICKS + 2]]
    for n in (0, 1, COLD_CLICKS, COLD_CLICKS + 1):
        user, (members, constant) = rec._user(rows[:n], "a jazz lover")
        _assert_explains_exactly(rec, user, members, constant)
    short, _ = rec._user(rows[:3], "a jazz lover")
    with torch.no_grad():  # the short user reads the cold tower: moving it moves them
        model.cold_head.weight.mul_(-1)
    try:
        flipped, _ = rec._user(rows[:3], "a jazz lover")
        long_before, _ = rec._user(rows, "a jazz lover")
    finally:
        with torch.no_grad():
            model.cold_head.weight.mul_(-1)
    assert not np.allclose(flipped, short)
    assert np.allclose(rec._user(rows, "a jazz lover")[0], long_before)


def test_a_history_item_named_twice_counts_once(recommender):
    a, b = (str(i) for i in recommender.items.item_id[:2])
    once = recommender.recommend(history=[a, b], k=5)
    twice = recommender.recommend(history=[a, b, a], k=5)
    assert [(i.item_id, i.score) for i in twice.items] == [(i.item_id, i.score) for i in once.items]
    assert twice.items[0].explanation == once.items[0].explanation


def test_two_insertions_of_one_id_at_once_add_it_once(fresh_bundle, monkeypatch):
    """Two concurrent adds of one new id: the second's check ran before the first landed
    (it encodes outside the lock). It is refused when it takes the lock."""
    from fedrec.serving import new_items as module

    rec = Recommender.load(fresh_bundle)
    item = {"item_id": "new-bowl", "title": "handmade ceramic tea bowls", "scenario": "crafts"}
    assert rec.add_items([item]) == 1
    check, calls = module.checked, []

    def checked_before_the_first_landed(rows, known):
        calls.append(1)
        return check(rows, {} if len(calls) == 1 else known)

    monkeypatch.setattr(module, "checked", checked_before_the_first_landed)
    with pytest.raises(ServingError, match="already in the catalog"):
        rec.add_items([item])
    assert len(calls) == 2
    assert list(rec.items.item_id).count("new-bowl") == 1
    again = Recommender.load(fresh_bundle)
    assert list(again.items.item_id).count("new-bowl") == 1


@pytest.fixture(scope="module")
def no_profile_recommender(tmp_path_factory, tiny_overrides):
    """A run whose model reads no profiles."""
    return _trained(tmp_path_factory, tiny_overrides, "no-profile", "use-profile=false")


def test_a_model_without_profiles_says_it_ignored_one(no_profile_recommender):
    rec = no_profile_recommender
    assert not rec.model.uses_profiles
    result = rec.recommend(profile="a jazz lover", k=3)
    assert result.cold_start
    assert any("profile ignored" in w for w in result.warnings)
    with pytest.raises(ServingError, match="none of the history"):
        rec.recommend(history=["nope"], profile="a jazz lover")
