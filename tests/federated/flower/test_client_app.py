"""The ClientApp called directly with Flower messages (no simulation engine)."""

import pytest
import torch
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from fedrec.config import build_config
from fedrec.federated.client import client_runtime
from fedrec.federated.flower.client_app import make_client_app
from fedrec.federated.flower.records import (
    ARRAYS,
    BYTES_SENT,
    CONFIG,
    METRICS,
    NUM_EXAMPLES,
    from_arrays,
    to_arrays,
)
from fedrec.models.state import trainable_state


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
