"""Local DP in real simulations: ε composes over rounds, budgets hold, resume keeps ε."""

import pytest
from opacus.accountants import RDPAccountant

from fedrec.privacy.ledger import PrivacyLedger
from tests.federated.runs import cli, simulate

pytestmark = pytest.mark.slow

DP = {"privacy-mode": "local", "noise-multiplier": 1.0, "max-grad-norm": 1.0, "batch-size": 16}


def _by_client(lines):
    out = {}
    for line in lines:
        out.setdefault(line["client"], []).append(line)
    return out


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory, fed_flat):
    return simulate(tmp_path_factory.mktemp("dp") / "run", fed_flat | DP)


def test_every_client_round_is_in_the_ledger_and_epsilon_composes(dp_run):
    summary, run = dp_run
    lines = PrivacyLedger(run.path).read()
    clients = _by_client(lines)
    assert sorted(clients) == [0, 1, 2]
    for entries in clients.values():
        assert [e["round"] for e in entries] == [1, 2]
        assert all(e["trained"] for e in entries)
        first, second = entries
        assert 0 < first["epsilon"] < second["epsilon"]  # a fresh accountant per round would repeat
        assert first["epsilon"] == pytest.approx(first["epsilon_round"])
        direct = RDPAccountant()
        direct.history = [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in entries]
        assert second["epsilon"] == pytest.approx(direct.get_epsilon(second["delta"]), rel=1e-6)
        assert second["delta"] < 1 / 10
    assert summary["federation"]["rounds"] == 2
    worst = max(e["epsilon"] for e in lines)
    assert summary["privacy"]["epsilon"] == pytest.approx(worst)
    assert summary["privacy"]["unit"] == "interaction"


def test_budget_is_never_exceeded_and_the_server_stops(tmp_path, fed_flat, dp_run):
    _, full = dp_run
    lines = PrivacyLedger(full.path).read()
    one_round = max(e["epsilon"] for e in lines if e["round"] == 1)
    budget = one_round * 1.2  # room for one round, not two
    summary, run = simulate(
        tmp_path / "capped", fed_flat | DP, **{"budget-epsilon": budget, "num-server-rounds": 3}
    )
    capped = PrivacyLedger(run.path).read()
    assert all(e["epsilon"] <= budget for e in capped)
    declined = [e for e in capped if not e["trained"]]
    assert {e["client"] for e in declined} == {0, 1, 2}
    assert all(e["round"] == 2 and e["steps"] == 0 for e in declined)
    assert summary["federation"]["rounds"] == 2  # round 3 never started: nobody had budget
    records = run.read_metrics()
    assert sorted(records[2]["declined"]) == [0, 1, 2]


def test_resumed_clients_keep_their_epsilon(tmp_path, fed_flat, dp_run):
    _, full = dp_run
    path = tmp_path / "resumed"
    simulate(path, fed_flat | DP, **{"num-server-rounds": 1})
    proc = cli("simulate", "--quiet", "--resume", str(path), "--set", "num-server-rounds=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = {(e["client"], e["round"]): e["epsilon"] for e in PrivacyLedger(path).read()}
    expected = {(e["client"], e["round"]): e["epsilon"] for e in PrivacyLedger(full.path).read()}
    assert resumed.keys() == expected.keys()
    for key, eps in expected.items():
        assert resumed[key] == pytest.approx(eps, rel=1e-9), key
