"""Server-side aggregation: FedAvg weighted by examples, and a server learning rate."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from fedrec.config import build_config
from fedrec.errors import ConfigError
from fedrec.federated.flower.records import ARRAYS, METRICS, NUM_EXAMPLES
from fedrec.federated.flower.strategy import make_strategy


@pytest.fixture(autouse=True)
def _outside_a_run(monkeypatch):
    monkeypatch.setattr(TaskIdentity, "_run_id", 1, raising=False)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1, raising=False)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1, raising=False)


class _Grid:
    def get_node_ids(self):
        return [1, 2]


def _record(values):
    return ArrayRecord({k: Array(np.asarray(v, dtype=np.float32)) for k, v in values.items()})


def _reply(values, examples):
    content = RecordDict({ARRAYS: _record(values), METRICS: MetricRecord({NUM_EXAMPLES: examples})})
    return Message(content, dst_node_id=0, message_type="train")


def _round(settings, current, replies):
    strategy = make_strategy(build_config(settings))
    strategy.configure_train(1, _record(current), ConfigRecord({}), _Grid())
    arrays, _ = strategy.aggregate_train(1, [_reply(v, n) for v, n in replies])
    return dict(zip(arrays.keys(), arrays.to_numpy_ndarrays(), strict=True))


CURRENT = {"w": np.array([1.0, 1.0])}
REPLIES = [({"w": np.array([2.0, 1.0])}, 30), ({"w": np.array([1.0, 3.0])}, 10)]
MEAN = np.array([1.75, 1.5])  # (30 * [2, 1] + 10 * [1, 3]) / 40


def test_fedavg_is_the_example_weighted_mean():
    np.testing.assert_allclose(_round({}, CURRENT, REPLIES)["w"], MEAN, rtol=1e-6)


@pytest.mark.parametrize("lr", [1.0, 2.0, 0.5])
def test_server_lr_scales_the_mean_update(lr):
    out = _round({"server-lr": lr}, CURRENT, REPLIES)["w"]
    np.testing.assert_allclose(out, CURRENT["w"] + lr * (MEAN - CURRENT["w"]), rtol=1e-6)


@pytest.mark.parametrize(
    "values,match",
    [
        ({"server-lr": -1.0}, "server-lr=-1.0 must be >= 0"),
        ({"server-lr": 2.0, "strategy": "fedprox"}, "does not apply to strategy=fedprox"),
    ],
)
def test_impossible_server_lr_fails_with_the_key(values, match):
    with pytest.raises(ConfigError, match=match):
        build_config(values)


def test_poisson_sampling_discrepancy_warning_is_dropped_and_others_kept(fed_flat):
    """Under central DP the replies differ from the sampled count by design (Poisson
    sampling; the mean is over the expected count): Flower's warning about it is noise."""
    import logging

    from flwr.supercore import differential_privacy as flwr_dp
    from flwr.supercore.logger import FLOWER_LOGGER

    from fedrec.config import build_config
    from fedrec.federated.flower.strategy import make_strategy
    from fedrec.privacy.central import CentralDP

    cfg = build_config(fed_flat | {"privacy-mode": "central", "target-epsilon": 8.0})
    make_strategy(cfg, CentralDP.from_config(cfg, 10, [], rounds_done=0))

    def passes(msg):
        record = FLOWER_LOGGER.makeRecord(
            FLOWER_LOGGER.name, logging.WARNING, "x", 1, msg, (3, 5), None
        )
        return all(f.filter(record) for f in FLOWER_LOGGER.filters)

    assert not passes(flwr_dp.CLIENTS_DISCREPANCY_WARNING)
    assert passes("something else (%s, %s)")
