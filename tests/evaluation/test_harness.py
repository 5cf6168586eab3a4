"""The slice harness: full ranking of any scorer, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from fedrec.data.split import split_dataset
from fedrec.evaluation.harness import (
    evaluate_cases,
    evaluate_split,
    history_matrix,
    matrix_scorer,
    new_to_scenario_curve,
    train_matrix,
)


def _oracle(cases, n_items, *, worst=False):
    """A scorer that puts each case's relevant item first (or last)."""
    wanted = {int(u): rel for u, rel in zip(cases.users, cases.relevant, strict=True)}

    def score(users, histories):
        out = np.zeros((len(users), n_items))
        for row, user in enumerate(users):
            out[row, wanted[int(user)]] = -1.0 if worst else 1.0
        return out

    return score


def test_an_oracle_scorer_is_perfect_and_its_opposite_finds_nothing(small_split):
    cases = small_split.test
    best = evaluate_cases(_oracle(cases, small_split.n_items), cases, small_split, k=5)
    assert best["hr@5"] == 1.0 and best["ndcg@5"] == pytest.approx(1.0) and best["mrr"] == 1.0
    worst = evaluate_cases(_oracle(cases, small_split.n_items, worst=True), cases, small_split, k=5)
    assert worst["hr@5"] == 0.0 and worst["ndcg@5"] == 0.0


def test_history_items_are_never_recommended(small_split):
    """History scored highest, the relevant item next: with history excluded, it is first."""
    cases = small_split.test
    wanted = {int(u): rel for u, rel in zip(cases.users, cases.relevant, strict=True)}

    def history_lover(users, histories):
        out = np.zeros((len(users), small_split.n_items))
        for row, (user, hist) in enumerate(zip(users, histories, strict=True)):
            out[row, hist] = 10.0
            out[row, wanted[int(user)]] = 5.0
        return out

    res = evaluate_cases(history_lover, cases, small_split, k=1)
    assert res["hr@1"] == 1.0 and res["users"] == len(cases)


def test_every_slice_is_reported_and_scenarios_rank_their_own_items(small_split):
    score = _oracle(small_split.test, small_split.n_items)

    def scorer(users, histories):  # the oracle on test users, zeros for the others
        known = set(small_split.test.users.tolist())
        rows = [u for u in users if int(u) in known]
        out = np.zeros((len(users), small_split.n_items))
        if rows:
            mask = np.isin(users, rows)
            out[mask] = score(users[mask], [h for h, m in zip(histories, mask, strict=True) if m])
        return out

    result = evaluate_split(scorer, small_split, k=5)
    assert set(result) == {
        "test",
        "cold_items",
        "cold_users",
        "cold_users_curve",
        "new_to_scenario_curve",
        "scenarios",
    }
    assert result["new_to_scenario_curve"] == {}  # the split has no such users
    assert set(result["scenarios"]) == set(small_split.scenarios)
    users = sum(result["scenarios"][s]["users"] for s in small_split.scenarios)
    assert users == len(small_split.test)  # each test case in exactly one scenario
    for name in small_split.scenarios:
        assert result["scenarios"][name]["hr@5"] == 1.0


def test_matrices_hold_exactly_the_given_items():
    m = history_matrix([np.array([0, 2]), np.array([], dtype=np.int64), np.array([1])], 4)
    np.testing.assert_array_equal(m.toarray(), [[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]])


def test_train_matrix_is_binary_over_the_training_interactions(small_split):
    m = train_matrix(small_split)
    assert m.shape == (small_split.n_users, small_split.n_items)
    assert set(np.unique(m.data)) == {1.0}
    pairs = set(zip(small_split.train["user"], small_split.train["item"], strict=True))
    assert m.nnz == len(pairs)


def test_matrix_scorer_passes_histories_as_a_matrix():
    class Echo:
        def score(self, matrix):
            return matrix.toarray() * 2

    out = matrix_scorer(Echo(), 3)(np.array([0]), [np.array([1])])
    np.testing.assert_array_equal(out, [[0, 2, 0]])


def test_new_to_scenario_ranks_among_the_scenario_items_only():
    from tests.data.test_split import _two_scenario_users

    split = split_dataset(
        _two_scenario_users(),
        cold_item_fraction=0.0,
        cold_user_fraction=0.0,
        cold_user_history=0,
        new_to_scenario_fraction=0.9,
        seed=0,
    )
    index = {str(name): i for i, name in enumerate(split.item_ids)}
    fixed = np.zeros(split.n_items)
    fixed[index["e2"]], fixed[index["m0"]], fixed[index["m4"]] = 10.0, 9.0, 8.0

    def score(users, histories):
        return np.tile(fixed, (len(users), 1))

    curve = new_to_scenario_curve(score, split, k=1)
    # e2 (ecommerce) scores highest but is no candidate; m0 is ahead of the target m4 until
    # it is known (in the history from 1 event on), which leaves m4 first.
    assert curve["0"]["users"] == 1
    assert curve["0"]["mrr"] == pytest.approx(0.5)
    assert curve["0"]["ndcg@1"] == 0.0
    assert curve["1"]["ndcg@1"] == pytest.approx(1.0) and curve["3"]["mrr"] == 1.0
    again = evaluate_split(score, split, k=1)["new_to_scenario_curve"]
    assert {c: (m["ndcg@1"], m["mrr"]) for c, m in again.items()} == {
        c: (m["ndcg@1"], m["mrr"]) for c, m in curve.items()
    }


def test_a_scorer_that_takes_a_scenario_is_told_which_one_a_ranking_is_for(small_split):
    """The scenario slices tell a scenario-aware scorer their scenario (and it is scored as
    it answers: here only when told the target's scenario); full rankings tell it none."""
    cases = small_split.test
    wanted = {int(u): int(rel[0]) for u, rel in zip(cases.users, cases.relevant, strict=True)}
    calls = []

    def aware(users, histories, scenario=None):
        calls.append(scenario)
        out = np.zeros((len(users), small_split.n_items))
        for row, user in enumerate(users):
            item = wanted.get(int(user))
            if item is not None and scenario == small_split.item_scenario[item]:
                out[row, item] = 1.0
        return out

    result = evaluate_split(aware, small_split, k=5)
    assert None in calls and set(calls) - {None} == set(range(len(small_split.scenarios)))
    assert result["test"]["hr@5"] < 1.0  # not told: no better than a tie
    for name in small_split.scenarios:
        assert result["scenarios"][name]["hr@5"] == 1.0
