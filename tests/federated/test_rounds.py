"""The Flower-free round loop against a scripted federation (no Flower, no engine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedrec.config import build_config
from fedrec.data.loading import prepare_split
from fedrec.federated.protocol import (
    EvalReply,
    EvalResult,
    Failure,
    Histograms,
    TrainReply,
    TrainResult,
)
from fedrec.federated.rounds import run_federation
from fedrec.privacy.ledger import PrivacyLedger
from fedrec.runs.rundir import RunDir


class ScriptedFederation:
    """Three nodes; node 11 declines (local DP budget), node 12 always fails."""

    def __init__(self, n_items, *, decline=(), fail=(12,)):
        self.nodes, self.decline, self.fail = [10, 11, 12], set(decline), set(fail)
        self.n_items = n_items
        self.trained: list[tuple[int, list[int]]] = []
        self.noised = 0
        self.central = self.local = None
        self.evaluated = 0
        self.workers = 1

    def connect(self, count):
        assert count == 3
        return list(self.nodes)

    def begin(self, central, local):
        self.central, self.local = central, local

    def partitions(self, nodes):
        return {n: n - 10 for n in nodes}

    def histograms(self, nodes):
        """Each client holds item 0 once; node 11 declines when it is to decline."""
        sent = [n - 10 for n in nodes if n not in self.fail and n not in self.decline]
        total = np.zeros(self.n_items)
        total[0] = float(len(sent))
        return Histograms(
            total if sent else None,
            sent,
            [n - 10 for n in nodes if n in self.decline and n not in self.fail],
            [Failure(n, "boom") for n in nodes if n in self.fail],
        )

    def train(self, server_round, state, nodes):
        self.trained.append((server_round, list(nodes)))
        replies, failures = [], []
        for node in nodes:
            if node in self.fail:
                failures.append(Failure(node, "boom"))
                continue
            declined = node in self.decline
            new = None if declined else {k: v + 1.0 for k, v in state.items()}
            result = TrainResult(node - 10, new, 0 if declined else 5, 0.5, 0.1)
            replies.append(TrainReply(node, result, 100, 100))
        return replies, failures

    def aggregate(self, server_round, replies):
        states = [r.result.state for r in replies]
        return {k: torch.stack([s[k] for s in states]).mean(0) for k in states[0]}

    def noise_only(self, state):
        self.noised += 1
        return {k: v + 0.01 for k, v in state.items()}

    def evaluate(self, server_round, state, nodes):
        self.evaluated += 1
        ok = [n for n in nodes if n not in self.fail]
        return [EvalReply(n, EvalResult(3, {"val_ndcg@10": 0.5}, 0.01)) for n in ok], []


@pytest.fixture()
def cfg(fed_flat):
    return lambda **kv: build_config(fed_flat | {"num-clients": 3, **kv})


@pytest.fixture(scope="module")
def n_items(fed_flat):
    return prepare_split(build_config(fed_flat)).n_items


def test_the_popularity_prior_starts_the_item_bias_and_is_in_the_ledger(tmp_path, cfg, n_items):
    fed = ScriptedFederation(n_items, decline=(11,))
    config = cfg(**{"privacy-mode": "local", "num-server-rounds": 1})
    run = RunDir(tmp_path).create()
    run_federation(fed, config, run)
    lines = PrivacyLedger(run.path).read()
    first = [e for e in lines if e["round"] == 0]
    assert [(e["client"], e["sample_rate"], e["steps"]) for e in first] == [(0, 1.0, 1)]
    assert first[0]["noise_multiplier"] == fed.local.popularity_noise > 0
    assert run.read_metrics()[0]["ledger_clients"] == [0]  # node 11 declined, 12 failed


def test_rounds_train_aggregate_and_log_what_happened(tmp_path, cfg, n_items):
    fed = ScriptedFederation(n_items)
    run = RunDir(tmp_path).create()
    summary = run_federation(fed, cfg(), run)
    assert [r for r, _ in fed.trained] == [1, 2]
    records = run.read_metrics()
    assert [r["round"] for r in records] == [0, 1, 2]
    first = records[1]
    assert first["clients"] == 3 and first["replies"] == 2 and first["aggregated"]
    assert first["failures"] == [{"node": 12, "error": "boom"}]
    assert first["fed_val_ndcg@10"] == 0.5 and first["examples"] == 10
    assert summary["federation"]["rounds"] == 2 and run.read_kind() == "federated"


def test_a_round_says_where_its_time_went(tmp_path, cfg, n_items):
    fed = ScriptedFederation(n_items)  # two replies of 0.1 s each, one worker
    run = RunDir(tmp_path).create()
    summary = run_federation(fed, cfg(), run)
    first = run.read_metrics()[1]
    assert first["client_train_seconds"] == pytest.approx(0.2)
    phase = first["train_phase_seconds"]
    assert first["overhead_per_client_seconds"] == pytest.approx(max(0.0, phase - 0.2) / 2)
    for key in ("aggregate_seconds", "client_eval_phase_seconds", "server_eval_seconds"):
        assert first[key] >= 0.0
    facts = summary["federation"]
    assert facts["workers"] == 1 and facts["client_train_seconds_mean"] == pytest.approx(0.2)


def test_clients_evaluate_only_when_asked(tmp_path, cfg, n_items):
    fed = ScriptedFederation(n_items)
    run = RunDir(tmp_path).create()
    run_federation(fed, cfg(**{"client-eval-every": 0, "num-server-rounds": 3}), run)
    assert fed.evaluated == 0
    assert not any(k.startswith("fed_") for r in run.read_metrics() for k in r)
    fed = ScriptedFederation(n_items)
    run_federation(
        fed,
        cfg(**{"client-eval-every": 2, "num-server-rounds": 3}),
        RunDir(tmp_path / "every-2").create(),
    )
    assert fed.evaluated == 2  # round 2, and the last round


def test_under_local_dp_the_clients_time_is_not_known(tmp_path, cfg, n_items):
    fed = ScriptedFederation(n_items)
    run = RunDir(tmp_path).create()
    run_federation(fed, cfg(**{"privacy-mode": "local", "num-server-rounds": 1}), run)
    first = run.read_metrics()[1]
    assert "client_train_seconds" not in first and "overhead_per_client_seconds" not in first
    assert first["train_phase_seconds"] >= 0.0 and fed.evaluated == 0


def test_too_few_replies_keep_the_state_and_say_so(tmp_path, cfg, n_items):
    fed = ScriptedFederation(n_items)
    run = RunDir(tmp_path).create()
    run_federation(fed, cfg(**{"min-replies": 3}), run)
    assert not run.read_metrics()[1]["aggregated"]
    assert torch.equal(
        run.load_state("checkpoint.safetensors")["item_head.weight"],
        run.load_state("state.safetensors")["item_head.weight"],
    )


def test_local_dp_writes_a_line_per_reply_and_stops_asking_a_declined_client(
    tmp_path, cfg, n_items
):
    fed = ScriptedFederation(n_items, decline=(11,))
    run = RunDir(tmp_path).create()
    run_federation(fed, cfg(**{"privacy-mode": "local", "num-server-rounds": 3}), run)
    lines = [e for e in PrivacyLedger(run.path).read() if e["round"] >= 1]
    # The lines come from the public mechanism the server fixed, not from the replies.
    assert fed.local is not None and {e["noise_multiplier"] for e in lines} == {
        fed.local.noise_multiplier
    }
    assert fed.evaluated == 0  # clients' own metrics would leave them unprotected
    assert [(e["round"], e["client"], e["trained"]) for e in lines] == [
        (1, 0, True),
        (1, 1, False),
        (2, 0, True),
        (3, 0, True),
    ]
    assert fed.trained[1][1] == [10, 12]  # node 11 declined in round 1, never asked again
    assert run.read_metrics()[1]["ledger_clients"] == [0, 1]


def test_central_dp_releases_noise_when_nobody_moved(tmp_path, cfg, n_items):
    fed = ScriptedFederation(n_items, fail=(10, 11, 12))  # nobody's update arrives
    run = RunDir(tmp_path).create()
    run_federation(fed, cfg(**{"privacy-mode": "central", "noise-multiplier": 1.0}), run)
    assert fed.noised == 2 and fed.central is not None
    lines = [e for e in PrivacyLedger(run.path).read() if e["round"] >= 1]
    assert len(lines) == 6 and not any(e["trained"] for e in lines)  # every client, every round
