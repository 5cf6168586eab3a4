import numpy as np
import pandas as pd
import pytest

from fedrec.data.schema import RecDataset
from fedrec.data.split import kcore_filter, split_dataset
from fedrec.errors import DataError


def _dataset(n_users=20, per_user=8, n_items=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False)
        for t, i in enumerate(items):
            rows.append((f"u{u}", f"i{i}", 100 * u + t, 4.0))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    items = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": [f"item {i}" for i in range(n_items)],
            "attributes": ["" for _ in range(n_items)],
            "scenario": ["a" if i % 2 else "b" for i in range(n_items)],
        }
    )
    profiles = pd.DataFrame({"user_id": ["u0"], "profile": ["likes things"]})
    return RecDataset("toy", items, inter, profiles)


def _split(ds, **kw):
    args = {"cold_item_fraction": 0.2, "cold_user_fraction": 0.1, "cold_user_history": 2, "seed": 0}
    return split_dataset(ds, **(args | kw))


def test_leave_last_out_is_temporal():
    ds = _dataset()
    split = _split(ds, cold_item_fraction=0.0, cold_user_fraction=0.0)
    for case_v, case_t in zip(split.valid.relevant, split.test.relevant, strict=True):
        assert len(case_v) == len(case_t) == 1
    user = split.test.users[0]
    seq = split.train[split.train["user"] == user]["item"].tolist()
    # test history = train + validation item, in time order
    assert split.test.history[0].tolist() == [*seq, split.valid.relevant[0][0]]
    assert split.valid.history[0].tolist() == seq
    assert split.train.groupby("user")["timestamp"].apply(lambda s: s.is_monotonic_increasing).all()


def test_cold_items_never_reach_training():
    split = _split(_dataset())
    assert split.cold_items.sum() == round(0.2 * 30)
    assert not split.cold_items[split.train["item"].to_numpy()].any()
    for rel in split.cold_item_cases.relevant:
        assert split.cold_items[rel].all()
    for rel in split.test.relevant:
        assert not split.cold_items[rel].any()


def test_cold_users_never_reach_training():
    split = _split(_dataset())
    cold = set(split.cold_user_cases.users.tolist())
    assert len(cold) == 2
    assert cold.isdisjoint(set(split.train["user"].tolist()))
    assert all(len(h) == 2 for h in split.cold_user_cases.history)
    assert cold.isdisjoint(set(split.test.users.tolist()))


def test_split_is_deterministic_by_seed():
    a, b = _split(_dataset()), _split(_dataset())
    assert np.array_equal(a.cold_items, b.cold_items)
    c = _split(_dataset(), seed=1)
    assert not np.array_equal(a.cold_items, c.cold_items)


def test_profiles_follow_user_index():
    split = _split(_dataset(), cold_user_fraction=0.0)
    assert split.profiles[list(split.user_ids).index("u0")] == "likes things"
    assert sum(bool(p) for p in split.profiles) == 1


def test_kcore_removes_sparse_users_and_items():
    ds = _dataset(n_users=12, per_user=3, n_items=9)
    out = kcore_filter(ds, 3)
    assert out.interactions["user_id"].value_counts().min() >= 3
    assert out.interactions["item_id"].value_counts().min() >= 3
    assert len(out.items) == len(ds.items)  # the catalog stays whole


def test_kcore_that_removes_everything_fails_with_the_fix():
    with pytest.raises(DataError, match="kcore"):
        kcore_filter(_dataset(n_users=3, per_user=2), 50)


def test_the_cold_users_curve_scores_the_same_users_from_their_first_clicks():
    split = _split(_dataset(n_users=40, per_user=8), cold_item_fraction=0.0, cold_user_fraction=0.2)
    curve = split.cold_user_curve((0, 1, 3, 5))
    assert list(curve) == [0, 1, 3, 5]
    users = curve[0].users
    assert len(users) == 8 and all(np.array_equal(curve[c].users, users) for c in curve)
    for case, user in enumerate(users):
        seq = split.cold_user_items[list(split.cold_user_cases.users).index(user)]
        assert len(seq) == 8  # every interaction, none in training
        for clicks, cases in curve.items():
            assert cases.history[case].tolist() == seq[:clicks].tolist()
            assert cases.relevant[case].tolist() == [seq[-1]]
    # users with too few interactions for 5 clicks and a target drop out of every point
    short = split.cold_user_curve((0, 7))
    assert len(short[0]) == 8 and split.cold_user_curve((0, 8))[0].users.size == 0


def _two_scenario_users():
    """u0: e0 m0 e1 m1 m2 m3 m4 (last in music, 5 there, 2 elsewhere): eligible.
    u1: only music (nothing elsewhere); u2: last in music with 3 there only."""
    seqs = {
        "u0": ["e0", "m0", "e1", "m1", "m2", "m3", "m4"],
        "u1": ["m0", "m1", "m2", "m3", "m4"],
        "u2": ["e0", "e1", "m0", "m1", "m2"],
    }
    rows = [(u, i, t, 5.0) for u, seq in seqs.items() for t, i in enumerate(seq)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    names = [f"e{i}" for i in range(4)] + [f"m{i}" for i in range(6)]
    items = pd.DataFrame(
        {
            "item_id": names,
            "title": names,
            "attributes": "",
            "scenario": ["ecommerce" if n[0] == "e" else "music" for n in names],
        }
    )
    return RecDataset("two", items, inter, None)


def test_new_to_scenario_users_lose_that_scenario_from_training_only():
    ds = _two_scenario_users()
    split = _split(ds, cold_item_fraction=0.0, cold_user_fraction=0.0, new_to_scenario_fraction=0.9)
    assert split.stats["new_to_scenario_users"] == 1  # u1 and u2 are not eligible
    ((user, scenario, _),) = split.new_to_scenario_items
    name = lambda items: [str(split.item_ids[i]) for i in items]  # noqa: E731
    assert split.user_ids[user] == "u0" and split.scenarios[scenario] == "music"
    trained = split.train[split.train["user"] == user]
    assert name(trained["item"]) == ["e0", "e1"]  # music withheld; too few to evaluate
    assert user not in split.test.users
    curve = split.new_to_scenario_curve()
    assert name(curve[0].history[0]) == ["e0", "e1"]
    assert name(curve[1].history[0]) == ["e0", "m0", "e1"]
    assert name(curve[3].history[0]) == ["e0", "m0", "e1", "m1", "m2"]
    assert all(name(curve[c].relevant[0]) == ["m4"] for c in (0, 1, 3))
    # Off by default, and then the split is the one it always was; the other users train
    # on the same rows either way.
    plain = _split(ds, cold_item_fraction=0.0, cold_user_fraction=0.0)
    assert plain.new_to_scenario_items == [] and plain.stats["new_to_scenario_users"] == 0
    others = split.train[split.train["user"] != user].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        others, plain.train[plain.train["user"] != user].reset_index(drop=True)
    )
