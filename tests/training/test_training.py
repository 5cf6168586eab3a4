from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from fedrec.config import build_config
from fedrec.errors import ConfigError
from fedrec.models.catalog_model import build_catalog_model
from fedrec.training.loss import UserView, sampled_softmax_loss
from fedrec.training.per_example import per_example_loss
from fedrec.training.rows import TrainingRows, build_rows
from fedrec.training.trainer import (
    SHORT_HISTORY,
    batch_loss,
    cold_tower_views,
    cold_views,
    drop_scenario,
    make_optimizer,
    scenario_views,
    shorten,
    train_epoch,
    user_views,
)


def test_rows_hold_only_the_past():
    train = pd.DataFrame({"user": [0, 0, 0, 1, 1], "item": [5, 6, 7, 8, 9]})
    rows = build_rows(train, max_history=2)
    assert rows.history.tolist() == [[-1, -1], [5, -1], [6, 5], [-1, -1], [8, -1]]
    user_rows = rows.epoch_rows("user", np.random.default_rng(0))
    assert sorted(rows.users[user_rows].tolist()) == [0, 1]  # one row per user per epoch
    assert len(rows.epoch_rows("interaction", np.random.default_rng(0))) == 5
    assert len(rows.epoch_rows("interaction", np.random.default_rng(0), cap=2)) == 2


def test_loss_hand_computed_and_masks_the_positive_among_negatives():
    pos = torch.tensor([2.0])
    neg = torch.tensor([[1.0, 2.0, 0.0]])
    loss = sampled_softmax_loss(pos, neg, torch.tensor([4]), torch.tensor([1, 4, 2]))
    # the negative equal to the positive (item 4) is masked: -log(e^2 / (e^2 + e^1 + e^0))
    expected = -np.log(np.exp(2) / (np.exp(2) + np.exp(1) + 1))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.fixture()
def cm(tiny_bert_path, small_split):
    cfg = build_config({"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16})
    torch.manual_seed(0)
    return build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))


def test_each_example_loss_and_gradient_depend_on_that_example_alone(cm, small_split):
    rows = build_rows(small_split.train, 20)
    idx = np.arange(6)
    users = torch.as_tensor(rows.users[idx])
    targets = torch.as_tensor(rows.targets[idx])
    history = torch.as_tensor(rows.history[idx])
    negatives = torch.arange(0, cm.n_items, 3)
    params = [p for p in cm.model.parameters() if p.requires_grad]

    def per_example(t, h):
        losses = batch_loss(cm, users, t, h, negatives, reduction="none")
        grad = torch.autograd.grad(losses[3], params, allow_unused=True)
        return losses.detach(), [g if g is None else g.clone() for g in grad]

    cm.model.train()
    base_loss, base_grad = per_example(targets, history)
    changed_t = targets.clone()
    changed_t[0] = (targets[0] + 1) % cm.n_items
    changed_h = history.clone()
    changed_h[0] = torch.roll(history[0], 1)
    loss, grad = per_example(changed_t, changed_h)
    assert not torch.isclose(loss[0], base_loss[0])
    assert torch.allclose(loss[1:], base_loss[1:], atol=1e-6)
    for a, b in zip(grad, base_grad, strict=True):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-6)


def test_training_lowers_the_loss(cm, small_split):
    cfg = build_config({"lr": 1e-2, "batch-size": 32, "negatives": 16}).train
    rows = build_rows(small_split.train, 20)
    opt = make_optimizer(cm, cfg)
    rng = np.random.default_rng(0)
    first = train_epoch(cm, rows, opt, cfg, rng)
    for _ in range(4):
        last = train_epoch(cm, rows, opt, cfg, rng)
    assert last.loss < first.loss
    assert first.examples == len(rows)


def _rows_with_history(history: np.ndarray) -> TrainingRows:
    n = len(history)
    return TrainingRows(np.zeros(n, np.int64), np.arange(n), history, np.array([0]), np.array([n]))


def test_shortened_histories_keep_their_most_recent_items():
    history = np.tile(np.arange(10, 30), (400, 1))  # most recent first
    history[0, 15:] = -1
    rows, idx = _rows_with_history(history), np.arange(400)
    assert np.array_equal(
        shorten(rows, idx, build_config({}).train, np.random.default_rng(0)), history
    )
    cfg = build_config({"short-history-share": 0.5}).train
    out = shorten(rows, idx, cfg, np.random.default_rng(0))
    lengths = (out >= 0).sum(1)
    short = lengths <= SHORT_HISTORY
    assert 0.4 < short.mean() < 0.6  # about half the rows cut
    assert set(lengths[short].tolist()) == set(range(SHORT_HISTORY + 1))  # 0..5, each seen
    for row, n in zip(out, lengths, strict=True):  # a prefix of the most recent items
        assert row[:n].tolist() == list(range(10, 10 + n)) and (row[n:] == -1).all()
    kept = out[~short]
    assert np.array_equal(kept, history[~short])
    with pytest.raises(ConfigError, match=r"short-history-share=1.5 must be in \[0, 1\]"):
        build_config({"short-history-share": 1.5})


def test_first_items_are_the_owners_first_clicks_before_the_target():
    train = pd.DataFrame({"user": [0, 0, 0, 0, 1, 1, 1], "item": [10, 11, 12, 13, 20, 21, 22]})
    rows = build_rows(train, max_history=4)
    first = rows.first_items(np.array([0, 1, 3, 3, 4, 6]), np.array([3, 3, 3, 2, 5, 1]))
    assert first.tolist() == [
        [-1, -1, -1, -1],  # the first row has nothing before it
        [10, -1, -1, -1],  # never the target (11) or later items
        [12, 11, 10, -1],  # the first three, most recent first
        [11, 10, -1, -1],
        [-1, -1, -1, -1],  # another owner: its own items only
        [20, -1, -1, -1],
    ]
    cfg = build_config({"short-history-share": 1.0, "short-history-from": "first"}).train
    out = shorten(rows, np.arange(len(rows)), cfg, np.random.default_rng(0))
    for row, user in zip(out, rows.users, strict=True):
        kept = row[row >= 0]
        assert set(kept.tolist()) <= set(train.item[train.user == user])


def test_scenario_dropout_keeps_other_scenarios_and_the_earliest_events_in_the_target_one():
    scenario = np.array([0, 0, 0, 0, 1, 1, 1])
    history = np.array([[0, 4, 1, 5, 2, 3, -1]] * 300)  # most recent first
    targets = np.full(300, 3)  # scenario 0
    assert drop_scenario(history, targets, scenario, 0.0, np.random.default_rng(0)) is history
    out = drop_scenario(history, targets, scenario, 1.0, np.random.default_rng(0))
    seen = set()
    for row in out:
        kept = row[row >= 0].tolist()
        assert [i for i in kept if scenario[i] == 1] == [4, 5]  # other scenarios stay, in order
        inside = [i for i in kept if scenario[i] == 0]
        assert inside == [0, 1, 2, 3][4 - len(inside) :]  # the earliest ones, in order
        assert (row[len(kept) :] == -1).all()  # closed up from position 0
        seen.add(len(inside))
    assert seen == {0, 1, 2, 3}
    half = drop_scenario(history, targets, scenario, 0.5, np.random.default_rng(1))
    assert 0.3 < (half == history).all(1).mean() < 0.7


def test_a_scenario_example_ranks_its_positive_among_that_scenarios_negatives(
    tiny_bert_path, small_split
):
    cfg = build_config(
        {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16, "scenario-input": True}
    )
    torch.manual_seed(0)
    cm = build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
    rows = build_rows(small_split.train, 20)
    idx = np.arange(4)
    users, targets = torch.as_tensor(rows.users[idx]), torch.as_tensor(rows.targets[idx])
    history = torch.as_tensor(rows.history[idx])
    negatives = torch.arange(cm.n_items)
    scen = cm.model.item_scenario
    request = scen[targets].clone()
    request[1] = cm.model.n_scenarios  # one example for any scenario
    cm.model.eval()
    with torch.no_grad():
        got = batch_loss(cm, users, targets, history, negatives, "none", scenario=request)
        u = cm.user_vectors(users, history, request)
        vecs = cm.model.item_vectors(cm.items.encode(cm.model.encoder, negatives), negatives)
        logits = u @ vecs.T / cm.model.cfg.temperature + cm.model.item_offsets(negatives)
    for row in range(4):
        rivals = (negatives != targets[row]) & (
            (scen == request[row]) if row != 1 else torch.ones_like(scen, dtype=torch.bool)
        )
        pos = logits[row, targets[row]]
        expected = torch.logsumexp(torch.cat([pos[None], logits[row, rivals]]), 0) - pos
        assert got[row].item() == pytest.approx(expected.item(), rel=1e-4)
    # Per example (the DP path): the same losses from per-example negatives.
    with torch.no_grad():
        each = per_example_loss(
            cm, users, targets, history, negatives.expand(4, -1), "none", scenario=request
        )
    assert torch.allclose(each, got, atol=1e-4)


def test_shaped_histories_of_one_record_do_not_change_when_another_record_goes():
    """Two datasets one record apart (a user-day record, as DP windows make them): every
    row of the other records is shaped into exactly the same history, whatever is
    drawn, so shaping adds nothing to what one record can change."""
    day = 86_400
    full = pd.DataFrame(
        {
            "user": [0] * 7,
            "item": [10, 11, 12, 20, 21, 22, 23],
            "timestamp": [1, 2, 3, day + 1, day + 2, day + 3, day + 4],
        }
    )
    apart = full[full.timestamp > day].reset_index(drop=True)  # day 1 removed
    catalog = SimpleNamespace(item_scenario=np.arange(30) % 2)  # all scenario_views reads

    def away(rows, idx, cfg, rng):
        return scenario_views(catalog, rows, idx, rng)

    def tower(rows, idx, cfg, rng):
        return cold_tower_views(rows, idx, rng)

    for keep in ("first", "recent"):
        values = {"short-history-share": 1.0, "short-history-from": keep, "cold-view-weight": 1.0}
        cfg = build_config(values).train
        for seed in range(5):
            rows_full = build_rows(full, 4, window=day)
            rows_apart = build_rows(apart, 4, window=day)
            day2 = np.arange(3, 7)  # day 2's rows in the full dataset
            for shape in (shorten, cold_views, away, tower):
                a = shape(rows_full, day2, cfg, np.random.default_rng(seed))
                b = shape(rows_apart, np.arange(4), cfg, np.random.default_rng(seed))
                assert np.array_equal(a, b)
                assert set(a[a >= 0].tolist()) <= {20, 21, 22}  # day 2's own, never day 1's


def test_cold_views_cut_every_row_to_a_few_of_its_own_items():
    history = np.tile(np.arange(10, 30), (400, 1))  # most recent first
    rows, idx = _rows_with_history(history), np.arange(400)
    rng = np.random.default_rng(0)
    assert build_config({}).train.cold_view_weight == 1.0  # on by default
    assert cold_views(rows, idx, build_config({"cold-view-weight": 0}).train, rng) is None
    cfg = build_config({"cold-view-weight": 0.5}).train
    views = cold_views(rows, idx, cfg, rng)
    assert views.shape == (400, SHORT_HISTORY)
    lengths = (views >= 0).sum(1)
    assert set(lengths.tolist()) == set(range(SHORT_HISTORY + 1))  # every row cut, 0..5
    for row, n in zip(views, lengths, strict=True):  # a prefix of the most recent items
        assert row[:n].tolist() == list(range(10, 10 + n)) and (row[n:] == -1).all()
    train = pd.DataFrame({"user": [0] * 8 + [1] * 3, "item": [*range(8), 20, 21, 22]})
    rows = build_rows(train, max_history=6)
    first = build_config({"cold-view-weight": 1.0, "short-history-from": "first"}).train
    views = cold_views(rows, np.arange(len(rows)), first, np.random.default_rng(1))
    for row, target, user in zip(views, rows.targets, rows.users, strict=True):
        kept = row[row >= 0].tolist()
        mine = train.item[train.user == user].tolist()
        assert kept == mine[: len(kept)][::-1]  # the owner's first items, most recent first
        assert target not in kept and all(mine.index(i) < mine.index(target) for i in kept)
    with pytest.raises(ConfigError, match=r"cold-view-weight=-1.0 must be >= 0"):
        build_config({"cold-view-weight": -1.0})


def test_the_cold_view_adds_its_weighted_loss_batched_and_per_example(tiny_bert_path, small_split):
    """Each example's loss is its loss from the whole history plus ``weight`` times its
    loss from the cold view (hand-computed from the logits); a profile-only view
    (nothing but the profile) still has a finite loss; the DP layout agrees."""
    cfg = build_config({"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16})
    torch.manual_seed(0)
    cm = build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
    assert cm.model.uses_profiles
    rows = build_rows(small_split.train, 20)
    idx = np.arange(3, 9)
    users, targets = torch.as_tensor(rows.users[idx]), torch.as_tensor(rows.targets[idx])
    history = torch.as_tensor(rows.history[idx])
    cold = history[:, :SHORT_HISTORY].clone()
    cold[:2] = -1  # two profile-only views
    cold[2:4, 1:] = -1  # two views of one click
    negatives = torch.arange(cm.n_items)
    cm.model.eval()

    def by_hand(seen):
        u = cm.user_vectors(users, seen)
        vecs = cm.model.item_vectors(cm.items.encode(cm.model.encoder, negatives), negatives)
        logits = u @ vecs.T / cm.model.cfg.temperature + cm.model.item_offsets(negatives)
        pos = logits[torch.arange(len(idx)), targets]
        rivals = logits.masked_fill(negatives[None, :] == targets[:, None], -torch.inf)
        return torch.logsumexp(torch.cat([pos[:, None], rivals], 1), 1) - pos

    with torch.no_grad():
        views = [UserView(0.7, cold)]
        got = batch_loss(cm, users, targets, history, negatives, "none", views=views)
        full, alone = by_hand(history), by_hand(cold)
        each = per_example_loss(
            cm, users, targets, history, negatives.expand(len(idx), -1), "none", views=views
        )
    assert torch.isfinite(alone).all() and not torch.allclose(alone, full)
    assert torch.allclose(got, full + 0.7 * alone, atol=1e-4)
    assert torch.allclose(each, got, atol=1e-4)


@pytest.mark.parametrize("conditioned", [False, True])
def test_the_scenario_view_ranks_its_target_among_its_scenario_without_its_history(
    tiny_bert_path, small_split, conditioned
):
    """With ``scenario-view-weight`` each example's loss adds ``weight`` times the loss of
    its target ranked among its scenario's items only, the user seen without their
    items in that scenario but the 3 earliest and, with ``scenario-input``, asked for
    that scenario (hand-computed); the DP layout agrees; ``user_views`` builds it from
    each row's own history."""
    values = {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16}
    cfg = build_config({**values, "scenario-input": conditioned})
    torch.manual_seed(0)
    cm = build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
    if conditioned:  # off their zero start, so the scenario asked for changes the user
        with torch.no_grad():
            cm.model.scenario_embedding.weight.normal_()
            cm.model.scenario_pool.weight.normal_()
    rows = build_rows(small_split.train, 20)
    idx = np.arange(len(rows))
    train = build_config({"cold-view-weight": 0, "scenario-view-weight": 0.6}).train
    (view,) = user_views(cm, rows, idx, train, np.random.default_rng(0))
    scen = cm.item_scenario
    assert view.weight == 0.6 and np.array_equal(view.scenario.numpy(), scen[rows.targets])
    dropped = 0
    for seen, full, target in zip(view.history.numpy(), rows.history, rows.targets, strict=True):
        kept = seen[seen >= 0]
        assert (seen[len(kept) :] == -1).all()  # the gaps closed
        mine = full[full >= 0]  # most recent first
        others = [i for i in mine if scen[i] != scen[target]]
        assert others == [i for i in kept if scen[i] != scen[target]]  # kept, in order
        here = [i for i in mine if scen[i] == scen[target]]
        left = [i for i in kept if scen[i] == scen[target]]
        assert len(left) <= 3 and left == here[len(here) - len(left) :]  # the earliest
        dropped += len(here) - len(left)
    assert dropped > 0
    assert len(user_views(cm, rows, idx, build_config({}).train, np.random.default_rng(0))) == 1
    both = build_config({"scenario-view-weight": 0.5}).train
    assert len(user_views(cm, rows, idx, both, np.random.default_rng(0))) == 2
    with pytest.raises(ConfigError, match=r"scenario-view-weight=-1.0 must be >= 0"):
        build_config({"scenario-view-weight": -1.0})

    pick = torch.arange(3, 9)
    users, targets = torch.as_tensor(rows.users[3:9]), torch.as_tensor(rows.targets[3:9])
    history = torch.as_tensor(rows.history[3:9])
    part = view.take(pick)
    negatives = torch.arange(cm.n_items)
    cm.model.eval()
    with torch.no_grad():
        got = batch_loss(cm, users, targets, history, negatives, "none", views=[part])
        each = per_example_loss(
            cm, users, targets, history, negatives.expand(6, -1), "none", views=[part]
        )
        vecs = cm.model.item_vectors(cm.items.encode(cm.model.encoder, negatives), negatives)
        offsets = cm.model.item_offsets(negatives)
        for row in range(6):
            losses = []
            for seen, request in ((history, None), (part.history, part.scenario)):
                u = cm.user_vectors(users, seen, request)[row]
                logits = vecs @ u / cm.model.cfg.temperature + offsets
                rivals = negatives != targets[row]
                if request is not None:  # only the target's scenario's items
                    rivals &= cm.model.item_scenario == request[row]
                pos = logits[targets[row]]
                losses.append(torch.logsumexp(torch.cat([pos[None], logits[rivals]]), 0) - pos)
            want = losses[0] + 0.6 * losses[1]
            assert got[row].item() == pytest.approx(want.item(), rel=1e-4)
        asked = cm.user_vectors(users, part.history, part.scenario)
        unasked = cm.user_vectors(users, part.history)
    assert torch.allclose(each, got, atol=1e-4)
    # The hand computation asked for the scenario: with scenario-input that matters.
    assert torch.allclose(asked, unasked, atol=1e-5) != conditioned


@pytest.mark.parametrize(
    ("layout", "scenario_input"), [("batched", False), ("per-example", False), ("batched", True)]
)
def test_the_cold_tower_trains_on_its_own_view_and_leaves_the_rest_alone(
    tiny_bert_path, small_split, layout, scenario_input
):
    """With ``cold-head`` the cold tower's view moves the cold tower's weights and
    nothing else (LoRA, item head, ID terms, bias and the main tower untouched; with
    ``scenario-input`` also the scenario parts both towers share), in both loss
    layouts; the example itself, short history or not, and any other view take the
    main tower; ``user_views`` adds the cold tower's view (the owner's first clicks)
    exactly when the model has a cold tower."""
    from tests.conftest import nudged_catalog_model

    values = {"cold-head": True, "scenario-input": scenario_input}
    cm = nudged_catalog_model(tiny_bert_path, small_split, **values)
    rows = build_rows(small_split.train, 20)
    idx = np.arange(3, 11)
    users, targets = torch.as_tensor(rows.users[idx]), torch.as_tensor(rows.targets[idx])
    history = torch.as_tensor(rows.history[idx]).clone()
    history[::2, 2:] = -1  # short histories: still the main tower's in training
    cold = history[:, :SHORT_HISTORY].clone()
    cold[::3] = -1  # profile-only views
    cold[1::3, 2:] = -1
    negatives = torch.arange(cm.n_items)
    named = [(n, p) for n, p in cm.model.named_parameters() if p.requires_grad]
    cm.model.train()

    def grads(views):
        if layout == "batched":
            loss = batch_loss(cm, users, targets, history, negatives, views=views)
        else:
            each = negatives[:12].expand(len(idx), -1)
            # LoRA's gradient through every negative, exactly (no random draw).
            loss = per_example_loss(
                cm, users, targets, history, each, text="trained", text_negatives=12, views=views
            )
        got = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
        return {
            n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(named, got, strict=True)
        }

    alone = grads([])
    tower = {"cold_head.weight", "cold_head.bias", "cold_position.weight"}
    assert all(not alone[n].any() for n in tower) and alone["user_head.weight"].any()
    moved = {
        on_tower: {
            n
            for n, g in grads([UserView(0.7, cold, None, on_tower)]).items()
            if not torch.allclose(g, alone[n], rtol=1e-4, atol=1e-6)
        }
        for on_tower in (True, False)
    }
    shared = {"scenario_embedding.weight", "scenario_pool.weight"} if scenario_input else set()
    assert tower <= moved[True] <= tower | shared
    assert any(n.startswith("encoder.") for n in moved[False])
    assert {"item_head.weight", "item_embedding.weight", "user_head.weight"} <= moved[False]
    assert not moved[False] & tower
    cfg = build_config({"cold-view-weight": 0.7}).train
    recent, first = user_views(cm, rows, idx, cfg, np.random.default_rng(0))
    assert (recent.weight, recent.cold_tower) == (0.7, False)
    assert (first.weight, first.cold_tower) == (1.0, True)
    for row, view in zip(idx, first.history.numpy(), strict=True):
        kept = view[view >= 0]
        assert np.array_equal(kept, rows.first_items(np.array([row]), [len(kept)])[0][: len(kept)])
    plain = nudged_catalog_model(tiny_bert_path, small_split)
    (view,) = user_views(plain, rows, idx, cfg, np.random.default_rng(0))
    assert not view.cold_tower
