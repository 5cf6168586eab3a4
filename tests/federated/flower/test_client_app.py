"""The ClientApp called directly with Flower messages (no simulation engine)."""

import dataclasses
import json
import re

import pytest
import torch
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from fedrec.config import build_config
from fedrec.errors import ConfigError
from fedrec.federated.client import ClientRuntime, client_runtime
from fedrec.federated.flower.client_app import make_client_app
from fedrec.federated.flower.records import (
    ARRAYS,
    BYTES_SENT,
    CONFIG,
    DP_MECHANISM,
    METRICS,
    NUM_EXAMPLES,
    POPULARITY,
    REQUEST,
    from_arrays,
    to_arrays,
    train_reply,
)
from fedrec.federated.sources import ClientInputs
from fedrec.models.state import trainable_state
from fedrec.privacy.mechanism import resolve_local_mechanism


@pytest.fixture(autouse=True)
def _task_identity():
    # Replies are stamped with the running task's identity, which a SuperNode sets.
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 7, 1


def _message(fed_flat, state, kind="train", server_round=1):
    content = RecordDict(
        {ARRAYS: to_arrays(state), CONFIG: ConfigRecord({**fed_flat, "server-round": server_round})}
    )
    return Message(content=content, dst_node_id=7, message_type=kind)


def _context(partition=0):
    return Context(
        run_id=1,
        node_id=7,
        node_config={"partition-id": partition, "num-partitions": 3},
        state=RecordDict(),
        run_config={},
    )


def test_only_the_trainable_state_travels_both_ways(fed_flat):
    runtime = client_runtime(build_config(fed_flat), 0)
    state = trainable_state(runtime.cm.model)
    backbone_names = {n for n, p in runtime.cm.model.named_parameters() if not p.requires_grad}
    assert backbone_names, "the backbone should be frozen and present"
    sent = to_arrays(state)
    assert set(sent.keys()) == set(state) and not set(sent.keys()) & backbone_names
    expected_bytes = sum(v.numel() * 4 for v in state.values())
    assert sent.count_bytes() >= expected_bytes  # payload plus small per-array headers
    assert sent.count_bytes() < expected_bytes + 200 * len(state)  # headers only

    reply = make_client_app()(_message(fed_flat, state), _context(0))
    assert not reply.has_error(), reply.error if reply.has_error() else ""
    back = reply.content[ARRAYS]
    assert set(back.keys()) == set(state)
    new_state = from_arrays(back)
    assert all(new_state[k].shape == state[k].shape for k in state)
    assert any(not torch.equal(new_state[k], state[k]) for k in state), "training changed nothing"
    metrics = reply.content[METRICS]
    assert metrics[NUM_EXAMPLES] == len(runtime.rows)
    assert metrics[BYTES_SENT] == back.count_bytes()


def test_float16_halves_the_payload(fed_flat):
    runtime = client_runtime(build_config(fed_flat), 0)
    state = trainable_state(runtime.cm.model)
    full, half = to_arrays(state).count_bytes(), to_arrays(state, float16=True).count_bytes()
    numel = sum(v.numel() for v in state.values())
    assert abs((full - half) - 2 * numel) <= 16 * len(state)  # two bytes saved per value
    restored = from_arrays(to_arrays(state, float16=True))
    assert all(restored[k].dtype == torch.float32 for k in restored)


def test_evaluate_reply_carries_no_arrays(fed_flat):
    runtime = client_runtime(build_config(fed_flat), 1)
    state = trainable_state(runtime.cm.model)
    reply = make_client_app()(_message(fed_flat, state, kind="evaluate"), _context(1))
    assert not reply.has_error()
    assert ARRAYS not in reply.content
    assert reply.content[METRICS][NUM_EXAMPLES] == len(runtime.data.valid)


def test_client_training_is_deterministic_per_round(fed_flat):
    runtime = client_runtime(build_config(fed_flat), 2)
    state = trainable_state(runtime.cm.model)
    a = runtime.train(state, server_round=3).state
    b = runtime.train(state, server_round=3).state
    c = runtime.train(state, server_round=4).state
    assert all(torch.allclose(a[k], b[k]) for k in a)
    assert any(not torch.allclose(a[k], c[k]) for k in a)


# -- a hostile server ------------------------------------------------------------------------
LOCAL = {"privacy-mode": "local", "privacy-unit": "user", "target-epsilon": 4.0}


def _mechanism(fed_flat, **change):
    """The mechanism an honest server sends for ``fed_flat`` under LOCAL, then ``change``."""
    cfg = build_config(fed_flat | LOCAL)
    mechanism = resolve_local_mechanism(
        cfg,
        population=45,
        records_per_client=15,
        epochs=cfg.federation.num_server_rounds,
    )
    return dataclasses.replace(mechanism, **change)


def _dp_message(fed_flat, state, mechanism, **config):
    content = RecordDict(
        {
            ARRAYS: to_arrays(state),
            CONFIG: ConfigRecord(
                {
                    **build_config(fed_flat | LOCAL | config).to_flat(),
                    "server-round": 1,
                    DP_MECHANISM: mechanism.to_json(),
                }
            ),
        }
    )
    return Message(content=content, dst_node_id=7, message_type="train")


def _node(tmp_path, **policy):
    return Context(
        run_id=1,
        node_id=7,
        node_config={
            "partition-id": 0,
            "num-partitions": 3,
            "state-dir": str(tmp_path / "own-state"),
            **{"privacy-mode": "local", "privacy-unit": "user", "target-epsilon": 4.0, **policy},
        },
        state=RecordDict(),
        run_config={},
    )


@pytest.mark.parametrize(
    "config,change,says",
    [
        ({"privacy-mode": "off"}, {}, "privacy-mode='off'"),
        ({}, {"noise_multiplier": 0.3}, "noise-multiplier=0.3"),
        ({}, {"delta": 1e-3}, "delta=0.001"),
        ({"privacy-unit": "interaction"}, {"unit": "interaction"}, "privacy-unit='interaction'"),
        ({}, {"noise_multiplier": 0.0}, "no guarantee"),
    ],
)
def test_a_request_for_weaker_privacy_is_refused_with_a_clear_error(
    tmp_path, fed_flat, config, change, says
):
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    msg = _dp_message(fed_flat, state, _mechanism(fed_flat, **change), **config)
    # The ClientApp raises; the SuperNode's runtime sends it back as the reply's error.
    with pytest.raises(ConfigError, match=re.escape(says)):
        make_client_app()(msg, _node(tmp_path))
    assert not (tmp_path / "own-state").exists()  # nothing trained, nothing spent


def test_a_weight_that_is_not_a_number_is_refused_before_training(tmp_path, fed_flat):
    """A NaN passes every range check; a server sending one for a view's weight gets a
    clear error and the node trains and spends nothing."""
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    msg = _dp_message(fed_flat, state, _mechanism(fed_flat))
    msg.content[CONFIG]["scenario-view-weight"] = float("nan")
    with pytest.raises(ConfigError, match="scenario-view-weight: expected a number"):
        make_client_app()(msg, _node(tmp_path))
    assert not (tmp_path / "own-state").exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("proximal-mu", float("nan"), "proximal-mu=nan: expected a finite number >= 0"),
        ("proximal-mu", float("inf"), "proximal-mu=inf: expected a finite number >= 0"),
        ("proximal-mu", -1.0, "proximal-mu=-1.0: expected a finite number >= 0"),
        ("server-round", -3, "server-round=-3: expected a whole number >= 0"),
        ("server-round", "1", "server-round='1': expected a whole number >= 0"),
    ],
)
def test_a_hostile_round_value_is_refused_before_training(tmp_path, fed_flat, key, value, message):
    """The values a server sends beside the config for one round are untrusted input
    too: a proximal weight that is not a finite number from 0, or a round that is not
    a whole number from 0, gets a clear error, and the node trains nothing."""
    runtime = client_runtime(build_config(fed_flat), 0)
    msg = _message(fed_flat, trainable_state(runtime.cm.model))
    msg.content[CONFIG][key] = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_client_app()(msg, _node(tmp_path))
    assert not (tmp_path / "own-state").exists()


def test_the_server_cannot_choose_where_a_node_keeps_its_accountant(tmp_path, fed_flat):
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    elsewhere = tmp_path / "server-chosen"
    msg = _dp_message(fed_flat, state, _mechanism(fed_flat), **{"client-state-dir": str(elsewhere)})
    reply = make_client_app()(msg, _node(tmp_path))
    assert not reply.has_error(), reply.error.reason[-800:] if reply.has_error() else ""
    assert not elsewhere.exists()
    assert (tmp_path / "own-state" / "partition-0-privacy.json").is_file()


def test_stronger_privacy_than_the_policy_is_accepted(tmp_path, fed_flat):
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    stronger = _mechanism(fed_flat, noise_multiplier=_mechanism(fed_flat).noise_multiplier * 2)
    reply = make_client_app()(_dp_message(fed_flat, state, stronger), _node(tmp_path))
    assert not reply.has_error(), reply.error.reason[-800:] if reply.has_error() else ""


def test_a_node_with_its_own_data_refuses_local_dp_without_a_state_directory(tmp_path, fed_flat):
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    node = _node(tmp_path)
    del node.node_config["state-dir"]
    node.node_config["data-dir"] = str(tmp_path / "data")
    with pytest.raises(ConfigError, match="state-dir"):
        make_client_app()(_dp_message(fed_flat, state, _mechanism(fed_flat)), node)


def test_local_dp_replies_are_the_same_for_datasets_one_user_apart(tmp_path, fed_flat):
    """Nothing but the noised update depends on the data: not the example count, the
    loss, the time, the δ or the sample rate."""
    cfg = build_config(fed_flat | LOCAL)
    runtime = client_runtime(cfg, 0)
    mechanism = _mechanism(fed_flat)
    state = trainable_state(runtime.cm.model)
    data = runtime.data
    user = int(data.train["user"].iloc[0])
    fewer = dataclasses.replace(data, train=data.train[data.train["user"] != user])
    metadata = []
    for holds in (data, fewer):
        one = ClientRuntime(cfg, 0, ClientInputs(holds, runtime.split, runtime.cm))
        result = one.train(state, 1, mechanism=mechanism, budget=4.0)
        reply = train_reply(_dp_message(fed_flat, state, mechanism), result, False, local_dp=True)
        metadata.append(dict(reply.content[METRICS]))
    assert metadata[0] == metadata[1]
    assert metadata[0][NUM_EXAMPLES] == 1  # every client weighs the same in the mean


def _dp_message_round(fed_flat, state, mechanism, server_round):
    config = {
        **build_config(fed_flat | LOCAL).to_flat(),
        "server-round": server_round,
        DP_MECHANISM: mechanism.to_json(),
    }
    content = RecordDict({ARRAYS: to_arrays(state), CONFIG: ConfigRecord(config)})
    return Message(content=content, dst_node_id=7, message_type="train")


def test_a_round_asked_again_gets_the_same_update_and_spends_nothing(tmp_path, fed_flat):
    """A message delivered again after a crash, or a run resumed after a SuperLink restart,
    asks for a round the node answered: it sends that update again and does not train."""
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    mechanism = _mechanism(fed_flat)
    accountant = tmp_path / "own-state" / "partition-0-privacy.json"
    app = make_client_app()
    first = app(
        _dp_message_round(fed_flat, state, mechanism, 2),
        _node(tmp_path, **{"budget-epsilon": 50.0}),
    )
    spent = json.loads(accountant.read_text())
    again = app(
        _dp_message_round(fed_flat, state, mechanism, 2),
        _node(tmp_path, **{"budget-epsilon": 50.0}),
    )
    assert not first.has_error() and not again.has_error()
    a, b = from_arrays(first.content[ARRAYS]), from_arrays(again.content[ARRAYS])
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same noised update, not a new draw
    assert json.loads(accountant.read_text()) == spent  # and no second spend
    # Another round, or the same round of another run, trains (and spends) again.
    for msg in (
        _dp_message_round(fed_flat, state, mechanism, 3),
        _dp_message_round(fed_flat, state, dataclasses.replace(mechanism, run_id="other"), 3),
    ):
        reply = app(msg, _node(tmp_path, **{"budget-epsilon": 50.0}))
        assert not reply.has_error()
        c = from_arrays(reply.content[ARRAYS])
        assert any(not torch.equal(a[k], c[k]) for k in a)
    steps = [sum(h[2] for h in json.loads(accountant.read_text())["accountant"])]
    assert steps == [3 * sum(h[2] for h in spent["accountant"])]  # three rounds' worth


def test_a_popularity_query_asked_again_gets_the_same_histogram_and_spends_nothing(
    tmp_path, fed_flat
):
    mechanism = _mechanism(fed_flat)
    assert mechanism.popularity_noise > 0
    config = {
        **build_config(fed_flat | LOCAL).to_flat(),
        DP_MECHANISM: mechanism.to_json(),
        REQUEST: POPULARITY,
    }
    accountant = tmp_path / "own-state" / "partition-0-privacy.json"
    app = make_client_app()
    replies, spent = [], []
    for run_id in (mechanism.run_id, mechanism.run_id, "another-run"):
        same = dataclasses.replace(mechanism, run_id=run_id)
        msg = Message(
            RecordDict({CONFIG: ConfigRecord(config | {DP_MECHANISM: same.to_json()})}),
            dst_node_id=7,
            message_type="query",
        )
        reply = app(msg, _node(tmp_path, **{"budget-epsilon": 50.0}))
        assert not reply.has_error(), reply.error.reason[-800:] if reply.has_error() else ""
        replies.append(reply.content[ARRAYS][POPULARITY].numpy())
        spent.append(json.loads(accountant.read_text())["accountant"])
    assert (replies[0] == replies[1]).all() and spent[0] == spent[1]  # asked again
    assert not (replies[0] == replies[2]).all() and spent[2] != spent[1]  # another run: anew


def test_a_hostile_server_asking_again_with_another_state_learns_nothing_new(tmp_path, fed_flat):
    """Same run id and round, a different global state: the node does not train on it;
    it sends the update it already released and spends nothing."""
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    other = {k: v + 0.5 for k, v in state.items()}
    mechanism = _mechanism(fed_flat)
    accountant = tmp_path / "own-state" / "partition-0-privacy.json"
    app = make_client_app()
    node = {"budget-epsilon": 50.0}
    first = app(_dp_message_round(fed_flat, state, mechanism, 1), _node(tmp_path, **node))
    spent = accountant.read_text()
    again = app(_dp_message_round(fed_flat, other, mechanism, 1), _node(tmp_path, **node))
    a, b = from_arrays(first.content[ARRAYS]), from_arrays(again.content[ARRAYS])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert accountant.read_text() == spent


def test_a_node_killed_between_its_spend_and_its_saved_update_counts_both(
    tmp_path, fed_flat, monkeypatch
):
    """The spend is written before the update is kept: a crash between the two leaves a
    node that trains the round again when asked, and its own accountant counts both."""
    from fedrec.federated import client_state as module

    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    mechanism = _mechanism(fed_flat)
    accountant = tmp_path / "own-state" / "partition-0-privacy.json"
    node = {"budget-epsilon": 50.0}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(module, "save_reply", killed)
    with pytest.raises(KeyboardInterrupt):
        make_client_app()(_dp_message_round(fed_flat, state, mechanism, 1), _node(tmp_path, **node))
    once = sum(h[2] for h in json.loads(accountant.read_text())["accountant"])
    assert once > 0  # the spend reached the disk before the crash
    monkeypatch.undo()
    reply = make_client_app()(
        _dp_message_round(fed_flat, state, mechanism, 1), _node(tmp_path, **node)
    )
    assert not reply.has_error()
    twice = sum(h[2] for h in json.loads(accountant.read_text())["accountant"])
    assert twice == 2 * once  # never under-counted


@pytest.mark.parametrize(
    "policy", [{"target-epsilon": 2.0}, {"budget-epsilon": 4.0}, {"delta": 1e-6}]
)
def test_a_node_config_naming_part_of_a_policy_gets_the_default_policy_for_the_rest(
    tmp_path, fed_flat, policy
):
    """A node that names only a stricter ε, budget or δ still requires local DP per user
    (the default policy), so a server asking for no privacy is refused, not answered
    with the node's exact update."""
    state = trainable_state(client_runtime(build_config(fed_flat), 0).cm.model)
    node = _context()
    node.node_config.update({"state-dir": str(tmp_path / "own-state"), **policy})
    with pytest.raises(ConfigError, match="privacy-mode='off'"):
        make_client_app()(_message(fed_flat, state), node)
    assert not (tmp_path / "own-state").exists()


def test_a_node_under_local_dp_refuses_to_evaluate(tmp_path, fed_flat):
    """Exact metrics on a node's validation cases are covered by no ε, and states the
    server builds could read its users' held-out items out of them, query by query."""
    state = trainable_state(client_runtime(build_config(fed_flat), 0).cm.model)
    for policy in ({}, {"privacy-mode": "central", "secure-aggregation": True}):
        with pytest.raises(ConfigError, match="reports no metrics computed on its data"):
            make_client_app()(_message(fed_flat, state, kind="evaluate"), _node(tmp_path, **policy))


def test_a_node_requiring_secure_aggregation_refuses_local_dp_in_the_clear(tmp_path, fed_flat):
    """Asking for local DP (nominally stronger than central) with almost no noise does
    not get an update out of a node whose policy sends updates only masked."""
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    weak = _mechanism(fed_flat, noise_multiplier=0.05)
    node = _node(tmp_path, **{"privacy-mode": "central", "secure-aggregation": True})
    with pytest.raises(ConfigError, match="secure-aggregation=true"):
        make_client_app()(_dp_message(fed_flat, state, weak), node)
    del node.node_config["secure-aggregation"]  # central alone: local DP must meet its ε
    with pytest.raises(ConfigError, match=re.escape("noise-multiplier=0.05")):
        make_client_app()(_dp_message(fed_flat, state, weak), node)
    assert not (tmp_path / "own-state").exists()


def test_a_policy_naming_noise_refuses_a_histogram_with_less(tmp_path, fed_flat):
    """A policy of σ ≥ 1 accepts the histogram a run with that σ sends (2σ), not one a
    server sends at almost no noise."""
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    policy = {"target-epsilon": 0.0, "noise-multiplier": 1.0}
    honest = _mechanism(fed_flat, noise_multiplier=1.0, popularity_noise=2.0)
    reply = make_client_app()(_dp_message(fed_flat, state, honest), _node(tmp_path, **policy))
    assert not reply.has_error(), reply.error.reason[-800:] if reply.has_error() else ""
    bare = _mechanism(fed_flat, noise_multiplier=1.0, popularity_noise=1e-9)
    with pytest.raises(ConfigError, match="popularity histogram at noise 1e-09"):
        make_client_app()(_dp_message(fed_flat, state, bare), _node(tmp_path / "b", **policy))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_global_state_holding_nan_or_inf_is_refused(tmp_path, fed_flat, bad):
    state = trainable_state(client_runtime(build_config(fed_flat | LOCAL), 0).cm.model)
    name = next(iter(state))
    state[name].view(-1)[0] = bad
    with pytest.raises(ConfigError, match=re.escape(f"{name!r} holds NaN or inf")):
        make_client_app()(_dp_message(fed_flat, state, _mechanism(fed_flat)), _node(tmp_path))
    assert not (tmp_path / "own-state").exists()


def test_an_honest_run_naming_its_histogram_noise_is_accepted_by_its_own_policy(fed_flat):
    """A simulation's nodes take the run config's policy: a run with σ = 1 and its own
    dp-popularity-noise (below 2σ) sends a mechanism its nodes accept, in simulation and
    through a node config alike."""
    from fedrec.privacy.policy import NodePolicy

    cfg = build_config(
        fed_flat | {"privacy-mode": "local", "noise-multiplier": 1.0, "dp-popularity-noise": 1.5}
    )
    mechanism = resolve_local_mechanism(cfg, population=45, records_per_client=15, epochs=2)
    assert mechanism.popularity_noise == 1.5
    policy = NodePolicy.from_config(cfg)
    policy.check(cfg, mechanism)
    assert NodePolicy.from_node_config(policy.node_config()) == policy
