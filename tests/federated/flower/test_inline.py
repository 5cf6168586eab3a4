"""The inline engine (the default): the same ServerApp and ClientApp in one process.

Runs in this process (no subprocess): a tiny federation, checked against what
Flower's Ray engine gives (a real ``fedrec simulate`` with ``simulation-engine=ray``)
and against the privacy audit.
"""

import json

import pytest
import torch

from fedrec.audit.ledger_audit import audit_run
from fedrec.config import build_config
from fedrec.federated.flower.inline import InlineGrid
from fedrec.federated.flower.simulation import simulate
from fedrec.federated.server import CHECKPOINT
from fedrec.runs.rundir import RunDir
from tests.federated.runs import simulate as simulate_with_ray

pytestmark = pytest.mark.slow

INLINE = {"simulation-engine": "inline"}


def _inline(path, flat, **overrides):
    run = RunDir(path).create()
    return simulate(build_config(flat | INLINE | overrides), run), run


def test_inline_trains_as_flowers_engine_does(tmp_path, fed_flat):
    """Same config and seed: the same global model as Flower's engine, to float noise
    (one thread against one per worker), and the same record of the run."""
    summary, inline = _inline(tmp_path / "inline", fed_flat)
    _, ray = simulate_with_ray(tmp_path / "ray", fed_flat, **{"simulation-engine": "ray"})
    a, b = inline.load_state(CHECKPOINT), ray.load_state(CHECKPOINT)
    assert set(a) == set(b)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4), key
    records = inline.read_metrics()
    assert [r["round"] for r in records] == [0, 1, 2]
    assert all(r["replies"] == 3 and r["failures"] == [] for r in records[1:])
    assert summary["federation"]["workers"] == 1 and summary["federation"]["clients"] == 3


def test_a_failing_client_is_an_error_reply_and_the_round_goes_on(tmp_path, fed_flat):
    _, run = _inline(tmp_path / "faulty", fed_flat, **{"fail-clients": "1", "num-server-rounds": 1})
    record = run.read_metrics()[1]
    assert record["replies"] == 2 and record["aggregated"] is True
    assert "fail-clients" in json.dumps(record["failures"])  # the client's own error text


def test_central_dp_inline_passes_its_audit(tmp_path, fed_flat):
    central = {"privacy-mode": "central", "target-epsilon": 8.0, "clients-per-round": 2}
    summary, run = _inline(tmp_path / "central", fed_flat, **central, **{"num-clients": 0})
    assert summary["privacy"]["mode"] == "central"
    assert summary["privacy"]["accountant"] == "pld"  # what calibrated σ, as the ledger says
    report = audit_run(run.path)
    assert report.ok, report.as_dict()
    assert summary["federation"]["clients"] > 30  # one user per client


def test_messages_reach_only_nodes_that_exist(fed_flat):
    from flwr.app import Message, RecordDict

    from fedrec.federated.flower.client_app import make_client_app

    grid = InlineGrid(make_client_app(), [{"partition-id": 0, "num-partitions": 1}], {})
    assert list(grid.get_node_ids()) == [1000]
    with pytest.raises(ValueError, match="no node 5"):
        grid.push_messages([Message(RecordDict(), dst_node_id=5, message_type="query")])


def test_each_node_gets_its_own_message_and_a_failure_leaves_its_context():
    """One content object for every node (as a strategy sends it): a ClientApp that
    changes it changes only its own copy; a ClientApp that raises after touching its
    context leaves the context as it was, and its error is the reply."""
    from flwr.app import ConfigRecord, Message, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.query()
    def query(msg, context):
        seen = int(msg.content["c"]["n"])
        msg.content["c"]["n"] = seen + 1  # a careless mod or app
        context.state["c"] = ConfigRecord({"calls": 1})
        if context.node_config["partition-id"] == 1:
            raise RuntimeError("node one fails")
        return Message(RecordDict({"c": ConfigRecord({"seen": seen})}), reply_to=msg)

    nodes = [{"partition-id": i, "num-partitions": 3} for i in range(3)]
    grid = InlineGrid(app, nodes, {})
    shared = RecordDict({"c": ConfigRecord({"n": 0})})
    ids = list(grid.get_node_ids())
    replies = list(
        grid.send_and_receive([Message(shared, dst_node_id=n, message_type="query") for n in ids])
    )
    ok = [r for r in replies if not r.has_error()]
    assert [int(r.content["c"]["seen"]) for r in ok] == [0, 0]
    assert int(shared["c"]["n"]) == 0
    (failed,) = [r for r in replies if r.has_error()]
    assert "node one fails" in failed.error.reason
    assert "c" not in grid._contexts[ids[1]].state and "c" in grid._contexts[ids[0]].state
