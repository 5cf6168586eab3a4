"""Central DP pieces: the DP-FedAvg aggregate, its noise, client sampling, client clipping."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM
from flwr.supercore.task_identity import TaskIdentity

from fedrec.config import build_config
from fedrec.federated.flower.client_app import central_clipping
from fedrec.federated.flower.records import ARRAYS, CONFIG
from fedrec.federated.flower.strategy import make_strategy, noise_only
from fedrec.privacy.central import CentralDP


@pytest.fixture(autouse=True)
def _outside_a_run(monkeypatch):
    """Messages built outside a running app need a run and node identity."""
    monkeypatch.setattr(TaskIdentity, "_run_id", 1, raising=False)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1, raising=False)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1, raising=False)


def _record(values: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({k: Array(np.asarray(v, dtype=np.float32)) for k, v in values.items()})


def _reply(values: dict[str, np.ndarray]) -> Message:
    return Message(RecordDict({ARRAYS: _record(values)}), dst_node_id=0, message_type="train")


class _Grid:
    def __init__(self, nodes):
        self.nodes = nodes

    def get_node_ids(self):
        return list(self.nodes)


def _strategy(clipping: str, sigma: float, expected: int, clip: float):
    cfg = build_config(
        {
            "privacy-mode": "central",
            "central-clipping": clipping,
            "noise-multiplier": sigma,
            "max-grad-norm": clip,
            "clients-per-round": expected,
            "num-clients": 10,
        }
    )
    dp = CentralDP.from_config(cfg, 10)
    return make_strategy(cfg, dp), dp


def _aggregate(strategy, current, replies):
    strategy.configure_train(1, _record(current), ConfigRecord({}), _Grid([1, 2]))
    arrays, _ = strategy.aggregate_train(1, [_reply(r) for r in replies])
    return {k: v for k, v in zip(arrays.keys(), arrays.to_numpy_ndarrays(), strict=True)}


def test_server_side_clipping_clips_and_divides_by_the_expected_count():
    strategy, dp = _strategy("server", 1e-9, expected=4, clip=1.0)
    assert dp.sample_rate == pytest.approx(0.4)
    current = {"a": np.zeros(2), "b": np.ones(1)}
    far = {"a": np.array([3.0, 4.0]), "b": np.ones(1)}  # update norm 5 -> clipped to 1
    near = {"a": np.array([0.0, 0.5]), "b": np.ones(1)}  # norm 0.5, kept
    out = _aggregate(strategy, current, [far, near])
    # (0.6, 0.8) + (0, 0.5), over 4 expected clients (not the 2 that replied).
    np.testing.assert_allclose(out["a"], [0.15, 0.325], atol=1e-6)
    np.testing.assert_allclose(out["b"], [1.0], atol=1e-6)


def test_noise_has_the_dp_fedavg_scale_and_empty_rounds_still_get_it():
    strategy, _ = _strategy("server", 2.0, expected=4, clip=0.5)
    current = {"a": np.zeros(20_000)}
    tiny = {"a": np.full(20_000, 1e-9)}  # a negligible update: the output is noise
    out = _aggregate(strategy, current, [tiny])
    assert np.std(out["a"]) == pytest.approx(2.0 * 0.5 / 4, rel=0.03)
    noisy = noise_only(strategy, _record(current)).to_numpy_ndarrays()[0]
    assert np.std(noisy) == pytest.approx(0.25, rel=0.03)


def test_client_side_clipping_asks_clients_to_clip_and_they_do():
    strategy, _ = _strategy("client", 1.0, expected=2, clip=1.0)
    config = ConfigRecord({})
    strategy.configure_train(1, _record({"a": np.zeros(2)}), config, _Grid([1, 2]))
    assert config[KEY_CLIPPING_NORM] == 1.0

    sent = Message(
        RecordDict({ARRAYS: _record({"a": np.zeros(2)}), CONFIG: config}),
        dst_node_id=1,
        message_type=MessageType.TRAIN,
    )

    def train(msg, ctx):
        return Message(RecordDict({ARRAYS: _record({"a": np.array([3.0, 4.0])})}), reply_to=msg)

    out = central_clipping(sent, None, train)
    np.testing.assert_allclose(out.content[ARRAYS].to_numpy_ndarrays()[0], [0.6, 0.8], rtol=1e-6)
    # Without the key (local DP or no DP) the update goes out as trained.
    plain = Message(
        RecordDict({ARRAYS: _record({"a": np.zeros(2)}), CONFIG: ConfigRecord({})}),
        dst_node_id=1,
        message_type=MessageType.TRAIN,
    )
    out = central_clipping(plain, None, train)
    np.testing.assert_allclose(out.content[ARRAYS].to_numpy_ndarrays()[0], [3.0, 4.0])

    def idle(msg, ctx):  # a client that did not move (no data): nothing to clip
        return Message(RecordDict({ARRAYS: _record({"a": np.zeros(2)})}), reply_to=msg)

    out = central_clipping(sent, None, idle)
    np.testing.assert_array_equal(out.content[ARRAYS].to_numpy_ndarrays()[0], [0.0, 0.0])
