import numpy as np
import pytest
import torch

from fedrec.config import build_config
from fedrec.errors import ModelError
from fedrec.models.catalog_model import build_catalog_model
from fedrec.models.recommender import COLD_CLICKS
from fedrec.models.state import load_trainable_state, trainable_state


def test_trainable_state_is_only_lora_and_heads(catalog_model):
    state = trainable_state(catalog_model.model)
    assert state, "nothing trainable"
    backbone_like = [k for k in state if "encoder.model" in k and "lora_" not in k]
    assert backbone_like == []
    assert any("lora_A" in k for k in state) and any("lora_B" in k for k in state)
    assert {"item_head.weight", "user_head.weight", "item_embedding.weight"} <= set(state)
    n_backbone = sum(
        p.numel() for p in catalog_model.model.encoder.parameters() if not p.requires_grad
    )
    assert n_backbone > 0
    assert all(
        not p.requires_grad for n, p in catalog_model.model.named_parameters() if n not in state
    )


def test_state_round_trip_and_shape_check(catalog_model):
    model = catalog_model.model
    state = {k: v + 1.0 for k, v in trainable_state(model).items()}
    load_trainable_state(model, state)
    after = trainable_state(model)
    assert all(torch.equal(after[k], state[k]) for k in state)
    bad = dict(state)
    bad["item_head.weight"] = torch.zeros(3, 3)
    with pytest.raises(ModelError, match=r"item_head\.weight"):
        load_trainable_state(model, bad)
    with pytest.raises(ModelError, match="missing"):
        load_trainable_state(model, {})


def test_cold_items_are_scored_from_text_alone(catalog_model, small_split):
    cold = torch.as_tensor(small_split.cold_items.nonzero()[0])
    warm = torch.as_tensor(small_split.warm_items.nonzero()[0])
    model = catalog_model.model
    users = small_split.test.users[:4]
    hist = small_split.test.history[:4]
    before = catalog_model.score_all(users, hist)
    with torch.no_grad():
        model.item_embedding.weight[cold] += 5.0
        model.item_bias.weight[cold] += 5.0
    after = catalog_model.score_all(users, hist)
    assert torch.allclose(torch.as_tensor(before[:, cold]), torch.as_tensor(after[:, cold]))
    with torch.no_grad():
        model.item_bias.weight[warm] += 1.0
    moved = catalog_model.score_all(users, hist)
    assert not torch.allclose(torch.as_tensor(moved[:, warm]), torch.as_tensor(after[:, warm]))


def test_a_profile_joins_the_pool_through_the_item_head(catalog_model):
    model = catalog_model.model
    assert model.profile_slot and model.profile_head is None  # no parameters of its own
    h = model.item_head.in_features
    with torch.no_grad():
        model.position.weight.normal_()
    text = torch.randn(2, 3, h)
    history = torch.tensor([[0, 1, -1], [-1, -1, -1]])
    profile = torch.randn(2, h)
    u = model.user_vectors(text, history, profile)
    # A user with only a profile is served from it: user_head(normalised item_head(profile)).
    alone = torch.nn.functional.normalize(model.item_head(profile[1]), dim=-1)
    expected = torch.nn.functional.normalize(model.user_head(alone), dim=-1)
    assert torch.allclose(u[1], expected, atol=1e-6)
    # A missing profile (all-zero row) changes nothing: the pool is the history's.
    no_profile = model.user_vectors(text, history, torch.zeros(2, h))
    history_only = model.user_vectors(text, history, None)
    assert torch.allclose(no_profile, history_only, atol=1e-6)
    assert not torch.allclose(u[0], history_only[0], atol=1e-4)


def test_own_profile_head_keeps_its_parameters(tiny_bert_path, small_split):
    cfg = build_config(
        {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16, "profile-head": "own"}
    )
    cm = build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
    state = trainable_state(cm.model)
    assert {"profile_head.weight", "profile_head.bias"} <= set(state)
    assert not cm.model.profile_slot and cm.model.position.num_embeddings == 20


@pytest.fixture()
def scenario_model(tiny_bert_path, small_split):
    cfg = build_config(
        {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16, "scenario-input": True}
    )
    torch.manual_seed(0)
    return build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))


def test_scenario_input_is_a_trainable_part_of_the_user_vector(scenario_model, small_split):
    model = scenario_model.model
    n = len(small_split.scenarios)
    assert n > 1 and model.n_scenarios == n
    state = trainable_state(model)
    # Counted in what travels (and so in what DP noises): one vector per scenario and
    # "any", and three pool weights.
    assert tuple(state["scenario_embedding.weight"].shape) == (n + 1, 8)
    assert tuple(state["scenario_pool.weight"].shape) == (3, 1)
    assert torch.equal(model.item_scenario, torch.tensor(small_split.item_scenario))
    users, hist = small_split.test.users[:3], small_split.test.history[:3]
    # Zero-initialised: until trained, a request for a scenario is a request for none.
    plain = scenario_model.score_all(users, hist)
    assert torch.allclose(
        torch.as_tensor(scenario_model.score_all(users, hist, scenario=1)), torch.as_tensor(plain)
    )
    with torch.no_grad():
        model.scenario_embedding.weight[1] = torch.randn(8)
    moved = scenario_model.score_all(users, hist, scenario=1)
    assert not torch.allclose(torch.as_tensor(moved), torch.as_tensor(plain))
    assert torch.allclose(  # other scenarios and "any" are untouched
        torch.as_tensor(scenario_model.score_all(users, hist, scenario=0)), torch.as_tensor(plain)
    )
    assert torch.allclose(
        torch.as_tensor(scenario_model.score_all(users, hist)), torch.as_tensor(plain)
    )


def test_scenario_pool_weighs_the_history_items_of_the_requested_scenario(scenario_model):
    model = scenario_model.model
    scen = model.item_scenario
    a = int(torch.nonzero(scen == 0)[0])
    b = int(torch.nonzero(scen == 1)[0])
    history = torch.tensor([[a, b]])
    text = torch.randn(1, 2, model.item_head.in_features)
    with torch.no_grad():
        model.scenario_pool.weight[:, 0] = torch.tensor([0.0, 30.0, 0.0])
    # For scenario 0, item a (in it) takes the whole pool: the user is item a alone.
    only_a = model.user_vectors(text[:, :1], history[:, :1], None, torch.tensor([0]))
    for_0 = model.user_vectors(text, history, None, torch.tensor([0]))
    assert torch.allclose(for_0, only_a, atol=1e-5)
    only_b = model.user_vectors(text[:, 1:], history[:, 1:], None, torch.tensor([1]))
    assert torch.allclose(
        model.user_vectors(text, history, None, torch.tensor([1])), only_b, atol=1e-5
    )
    # No scenario named: row 2 for every item, an equal shift, the plain recency pool.
    with torch.no_grad():
        model.scenario_pool.weight[2, 0] = 7.0
    anyone = model.user_vectors(text, history, None, None)
    with torch.no_grad():
        model.scenario_pool.weight.zero_()
    assert torch.allclose(anyone, model.user_vectors(text, history, None, None), atol=1e-6)


@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_the_popularity_prior_is_its_weight_times_log_one_plus_count(
    tiny_bert_path, small_split, weight
):
    values = {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16}
    cfg = build_config({**values, "popularity-prior-weight": weight})
    model = build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu")).model
    n = small_split.n_items
    counts = torch.arange(n, dtype=torch.float32) - 2.0  # a noisy histogram: some below 0
    model.set_popularity_prior(counts)
    bias = model.item_bias.weight.detach().squeeze(-1)
    warm = torch.as_tensor(~small_split.cold_items)
    expected = weight * torch.log1p(counts.clamp(min=0.0))
    assert torch.allclose(bias[warm], expected[warm])
    assert torch.equal(bias[~warm], torch.zeros(int((~warm).sum())))  # cold items: none


def test_users_with_few_clicks_are_pooled_by_a_tower_of_their_own(tiny_bert_path, small_split):
    """With ``cold-head`` a user seen by 1 to COLD_CLICKS clicks is pooled by the cold
    tower, anyone with more or none (a profile alone) by the main one; the cold tower
    travels with the state; the default model has none."""
    base = {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16}
    plain = build_config(base)
    default = build_catalog_model(small_split, plain.model, plain.data, torch.device("cpu"))
    assert not any(k.startswith("cold_") for k in trainable_state(default.model))
    cfg = build_config({**base, "cold-head": True})
    torch.manual_seed(0)
    cm = build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
    model = cm.model
    state = trainable_state(model)
    assert tuple(state["cold_head.weight"].shape) == (8, 8)
    assert tuple(state["cold_position.weight"].shape) == (COLD_CLICKS + 1, 1)
    lengths = (0, 1, COLD_CLICKS, COLD_CLICKS + 1, 12)
    users = np.tile(small_split.test.users[:3], len(lengths))
    histories = [np.arange(n) for n in lengths for _ in range(3)]

    def scores():  # one batch mixing every length; each row keeps its own tower
        got = torch.as_tensor(cm.score_all(users, histories)).reshape(len(lengths), 3, -1)
        return dict(zip(lengths, got, strict=True))

    start = scores()
    with torch.no_grad():
        model.cold_head.weight.add_(torch.randn(8, 8))
    cold_moved = scores()

    def cold(n):
        return 1 <= n <= COLD_CLICKS

    for n in lengths:
        assert torch.allclose(cold_moved[n], start[n]) is not cold(n), n
    with torch.no_grad():
        model.user_head.weight.add_(torch.randn(8, 8))
    main_moved = scores()
    for n in lengths:
        assert torch.allclose(main_moved[n], cold_moved[n]) is cold(n), n
    with torch.no_grad():  # the profile's weight in the cold pool is the cold tower's own
        model.cold_position.weight[COLD_CLICKS] += 3.0
    profile_moved = scores()
    assert not torch.allclose(profile_moved[1], main_moved[1])
    assert torch.allclose(profile_moved[12], main_moved[12])
    with torch.no_grad():  # the cold pool weighs an item by its rank among the known ones
        model.cold_position.weight[:COLD_CLICKS, 0] = torch.arange(COLD_CLICKS) * 1.0
    z = torch.randn(1, 4, 8)
    packed = model.pool_users(z, torch.tensor([[3, 7, -1, -1]]))
    gapped = model.pool_users(z[:, [0, 2, 1, 3]], torch.tensor([[3, -1, 7, -1]]))
    assert torch.allclose(packed, gapped, atol=1e-6)
    # Training names the tower: a short history can be pooled by the main one, a long
    # one by the cold one.
    short, long = torch.tensor([[3, 7, -1, -1]]), torch.tensor([list(range(COLD_CLICKS + 1))])
    z6 = torch.randn(1, COLD_CLICKS + 1, 8)
    assert torch.allclose(model.pool_users(z, short), model.pool_users(z, short, cold=True))
    assert not torch.allclose(model.pool_users(z, short), model.pool_users(z, short, cold=False))
    assert torch.allclose(model.pool_users(z6, long), model.pool_users(z6, long, cold=False))
    assert not torch.allclose(model.pool_users(z6, long), model.pool_users(z6, long, cold=True))
