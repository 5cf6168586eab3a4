"""SecAgg+ under central DP: the masked sum is the plain sum, and the server sees no update."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import bytes_to_ndarray
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage

from fedrec.config import build_config
from fedrec.errors import ConfigError
from fedrec.federated.client import client_runtime
from fedrec.federated.flower import secure_aggregation
from fedrec.federated.flower.client_app import make_client_app
from fedrec.federated.flower.inline import InlineGrid
from fedrec.federated.flower.records import (
    ARRAYS,
    CONFIG,
    NUM_PARTITIONS,
    PARTITION_ID,
    to_arrays,
)
from fedrec.federated.flower.secure_aggregation import QUANTIZATION_RANGE, clipped
from fedrec.federated.flower.server_app import FlowerFederation
from fedrec.federated.sources import GlobalSplitSource
from fedrec.models.state import trainable_state
from fedrec.privacy.central import CentralDP
from fedrec.privacy.policy import NodePolicy, PolicyRefusal


class RecordingGrid(InlineGrid):
    """The inline grid, keeping every reply the server receives."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[Message] = []

    def _deliver(self, message: Message) -> Message:
        reply = super()._deliver(message)
        self.received.append(reply)
        return reply


def _federation(fed_flat, tmp_path, **values):
    cfg = build_config(
        fed_flat
        | {"privacy-mode": "central", "noise-multiplier": 1.0, "max-grad-norm": 0.05, **values}
    )
    app = make_client_app(tmp_path, NodePolicy.from_config(cfg), GlobalSplitSource())
    nodes = [{PARTITION_ID: i, NUM_PARTITIONS: 3} for i in range(3)]
    grid = RecordingGrid(app, nodes, {})
    fed = FlowerFederation(grid, cfg)
    node_ids = fed.connect(3)
    fed.begin(CentralDP.from_config(cfg, 3), None)
    return fed, grid, node_ids, cfg


def _state(cfg):
    return trainable_state(client_runtime(cfg, 0).cm.model)


def test_the_secure_sum_is_the_sum_of_the_clipped_updates_and_no_update_is_seen(
    fed_flat, tmp_path, monkeypatch
):
    plain, _, nodes, cfg = _federation(fed_flat, tmp_path / "plain")
    state = _state(cfg)
    replies, failed = plain.train(1, state, nodes)
    assert not failed and len(replies) == 3
    expected = {k: torch.zeros_like(v, dtype=torch.float64) for k, v in state.items()}
    for reply in replies:
        delta = [(reply.result.state[k] - state[k]).double().numpy() for k in state]
        for k, d in zip(state, clipped(delta, 0.05), strict=True):
            expected[k] += torch.as_tensor(d)
    assert sum(float(v.norm() ** 2) for v in expected.values()) > 0

    masked_by_nodes: list[list[np.ndarray]] = []

    def keep(vector, norm):
        masked_by_nodes.append(clipped(vector, norm))
        return masked_by_nodes[-1]

    monkeypatch.setattr(secure_aggregation, "clipped", keep)
    secure, grid, nodes, cfg = _federation(
        fed_flat, tmp_path / "secure", **{"secure-aggregation": True}
    )
    replies, failed = secure.train(1, state, nodes)
    assert not failed and len(replies) == 3
    assert all(r.result.masked and r.result.state == {} for r in replies)
    _, total = secure._secure
    assert len(masked_by_nodes) == 3
    step = 2 * 0.05 / QUANTIZATION_RANGE  # Flower's quantization step at clipping range C
    for i, k in enumerate(state):
        summed = sum(v[i] for v in masked_by_nodes)
        # Stochastic rounding: less than one step per node.
        np.testing.assert_allclose(total[i], summed, rtol=0, atol=3 * step)
        # What each node masked is its update, clipped (training itself jitters a little).
        np.testing.assert_allclose(total[i], expected[k].numpy(), rtol=0, atol=1e-6)

    # What reached the server: four stages per node, and no array in any reply.
    assert len(grid.received) == 4 * 3
    assert all(not m.has_error() for m in grid.received)
    assert all(len(r) == 0 for m in grid.received for r in m.content.array_records.values())
    masked = [
        m.content.config_records[RECORD_KEY_CONFIGS][Key.MASKED_PARAMETERS]
        for m in grid.received
        if Key.MASKED_PARAMETERS in m.content.config_records[RECORD_KEY_CONFIGS]
    ]
    assert len(masked) == 3
    for vector in masked:
        values = np.concatenate([bytes_to_ndarray(b).ravel() for b in vector[1:]])
        # Unmasked, every quantized value lies in [0, 2^22]; masked, about 2^-10 of them.
        assert np.mean(values <= QUANTIZATION_RANGE) < 0.01
    # No per-client training figure reaches the server either.
    assert all(np.isnan(r.result.train_loss) for r in replies)


def test_a_released_round_adds_dp_fedavg_noise_to_the_secure_sum(fed_flat, tmp_path):
    fed, _, nodes, cfg = _federation(fed_flat, tmp_path, **{"secure-aggregation": True})
    state = _state(cfg)
    replies, _ = fed.train(1, state, nodes)
    _, total = fed._secure
    new = fed.aggregate(1, replies)
    noise = np.concatenate(
        [
            (new[k].double() - state[k].double()).numpy().ravel() - t.ravel() / 3
            for k, t in zip(state, total, strict=True)
        ]
    )
    # σ·C / expected clients = 1.0 · 0.05 / 3
    assert np.std(noise) == pytest.approx(0.05 / 3, rel=0.1)


def test_a_node_that_fails_mid_protocol_drops_out_and_the_others_are_summed(fed_flat, tmp_path):
    fed, _, nodes, cfg = _federation(
        fed_flat, tmp_path, **{"secure-aggregation": True, "fail-clients": "1"}
    )
    replies, failed = fed.train(1, _state(cfg), nodes)
    assert sorted(r.result.partition for r in replies) == [0, 2]
    assert len(failed) == 1 and "dropped out of secure aggregation" in failed[0].error
    assert fed._secure[1] is not None


def test_one_sampled_client_gets_a_noise_only_round(fed_flat, tmp_path):
    fed, grid, nodes, cfg = _federation(fed_flat, tmp_path, **{"secure-aggregation": True})
    assert fed.train(1, _state(cfg), nodes[:1]) == ([], [])
    assert grid.received == []  # it was not even asked: its update could not hide


def test_the_histograms_are_summed_securely(fed_flat, tmp_path):
    plain, _, nodes, _ = _federation(fed_flat, tmp_path / "plain")
    expected = plain.histograms(nodes)
    secure, grid, nodes, _ = _federation(
        fed_flat, tmp_path / "secure", **{"secure-aggregation": True}
    )
    got = secure.histograms(nodes)
    assert sorted(got.sent) == [0, 1, 2] and not got.failures
    np.testing.assert_allclose(got.total, expected.total, atol=1e-5)
    assert all(len(r) == 0 for m in grid.received for r in m.content.array_records.values())


# -- the node's side: a hostile server ---------------------------------------------------
def _node(fed_flat, policy):
    cfg = build_config(fed_flat | {"privacy-mode": "central", "noise-multiplier": 1.0})
    context = Context(
        run_id=1,
        node_id=7,
        node_config={PARTITION_ID: 0, NUM_PARTITIONS: 3},
        state=RecordDict(),
        run_config={},
    )
    return make_client_app(None, policy), context, cfg


def test_a_node_that_requires_secure_aggregation_refuses_a_plain_central_round(fed_flat):
    policy = NodePolicy(mode="central", secure_aggregation=True)
    app, context, cfg = _node(fed_flat, policy)
    state = _state(cfg)
    content = RecordDict(
        {ARRAYS: to_arrays(state), CONFIG: ConfigRecord({**cfg.to_flat(), "server-round": 1})}
    )
    message = Message(content, dst_node_id=7, message_type=MessageType.TRAIN)
    with pytest.raises(PolicyRefusal, match=r"secure-aggregation=true.*nothing was trained"):
        app(message, context)
    # The same policy, stated in a SuperNode's node config, reads back.
    assert NodePolicy.from_node_config(policy.node_config()) == policy


@pytest.mark.parametrize(
    ("samples", "shares", "threshold"),
    [(1, 1, 1), (3, 3, 1), (4, 4, 2)],
)
def test_a_node_refuses_protocol_settings_that_would_unmask_it(
    fed_flat, samples, shares, threshold
):
    app, context, _ = _node(fed_flat, NodePolicy(mode="central", secure_aggregation=True))
    setup = ConfigRecord(
        {
            Key.STAGE: Stage.SETUP,
            Key.SAMPLE_NUMBER: samples,
            Key.SHARE_NUMBER: shares,
            Key.THRESHOLD: threshold,
            Key.CLIPPING_RANGE: 1.0,
            Key.TARGET_RANGE: QUANTIZATION_RANGE,
            Key.MOD_RANGE: 2**32,
            Key.MAX_WEIGHT: 1.0,
        }
    )
    msg = Message(
        RecordDict({RECORD_KEY_CONFIGS: setup}), dst_node_id=7, message_type=MessageType.TRAIN
    )
    with pytest.raises(ConfigError, match="threshold above half the shares"):
        app(msg, context)
    assert context.state.config_records == {}  # nothing of the protocol was started


def test_a_node_refuses_to_unmask_a_node_named_both_alive_and_dropped(fed_flat):
    app, context, _ = _node(fed_flat, NodePolicy(mode="central", secure_aggregation=True))
    unmask = ConfigRecord(
        {Key.STAGE: Stage.UNMASK, Key.ACTIVE_NODE_ID_LIST: [7, 8, 9], Key.DEAD_NODE_ID_LIST: [8]}
    )
    msg = Message(
        RecordDict({RECORD_KEY_CONFIGS: unmask}), dst_node_id=7, message_type=MessageType.TRAIN
    )
    with pytest.raises(ConfigError, match=r"node\(s\) \[8\] both alive and dropped"):
        app(msg, context)


def test_secure_aggregation_is_for_central_dp_with_client_clipping():
    with pytest.raises(ConfigError, match="privacy-mode='central'"):
        build_config({"secure-aggregation": True, "privacy-mode": "local"})
    with pytest.raises(ConfigError, match="central-clipping='client'"):
        build_config(
            {"secure-aggregation": True, "privacy-mode": "central", "central-clipping": "server"}
        )
    with pytest.raises(ConfigError, match="num-clients=1"):
        build_config({"secure-aggregation": True, "privacy-mode": "central", "num-clients": 1})
    with pytest.raises(ConfigError, match="clients-per-round"):
        build_config(
            {"secure-aggregation": True, "privacy-mode": "central", "clients-per-round": 900}
        )
