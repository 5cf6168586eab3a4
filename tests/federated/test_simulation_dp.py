"""Local DP in real simulations: ε composes over rounds, budgets hold, resume keeps ε."""

import json

import pytest
from opacus.accountants import RDPAccountant

from fedrec.privacy.calibration import ALPHAS
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
        # Round 0: the popularity histogram (one Gaussian release); then the DP-SGD rounds.
        assert [e["round"] for e in entries] == [0, 1, 2]
        assert all(e["trained"] for e in entries)
        histogram, first, second = entries
        assert (histogram["sample_rate"], histogram["steps"]) == (1.0, 1)
        assert histogram["epsilon"] < first["epsilon"] < second["epsilon"]  # ε composes
        assert first["noise_multiplier"] == second["noise_multiplier"]  # one public mechanism
        direct = RDPAccountant()
        direct.history = [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in entries]
        rdp = direct.get_epsilon(second["delta"], alphas=ALPHAS)
        assert second["accountant"] == "pld" and 0.8 * rdp < second["epsilon"] <= rdp
        assert second["delta"] <= 1e-5 and second["randomness"] == "os"
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


def test_a_round_spent_before_the_run_stopped_is_in_the_ledger_after_the_resume(tmp_path, fed_flat):
    """Stopped after the clients trained round 2 and before the server logged it: their
    own accountants hold that spend. Round 2 asked again spends once more, and the
    resumed ledger holds both, so it agrees with every accountant and the audit passes."""
    from fedrec.federated.client_state import load_history, save_history

    path = tmp_path / "stopped"
    simulate(path, fed_flat | DP, **{"num-server-rounds": 1})
    states = sorted((path / "client-state").glob("partition-*-privacy.json"))
    for state in states:  # what training round 2 added before the stop
        history = load_history(state)
        save_history(state, [*history, history[-1]])
    proc = cli("simulate", "--quiet", "--resume", str(path), "--set", "num-server-rounds=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    round_two = [e for e in PrivacyLedger(path).read() if e["round"] == 2]
    assert sorted(e["client"] for e in round_two) == [0, 0, 1, 1, 2, 2]
    assert all(e["trained"] and e["steps"] > 0 for e in round_two)
    proc = cli("audit", str(path), "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_audit_of_a_real_run_passes_and_writes_its_report(dp_run):
    _, run = dp_run
    proc = cli("audit", str(run.path), "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["ok"] and report["rounds"] == 3  # the histogram's round 0, then 2
    assert sorted(c["client"] for c in report["clients"]) == [0, 1, 2]
    for client in report["clients"]:
        assert client["epsilon"] == pytest.approx(client["epsilon_reported"], rel=0.03)
        assert client["epsilon_rdp"] >= client["epsilon_reported"]
    assert (run.path / "audit_epsilon.png").stat().st_size > 0


CENTRAL = {"privacy-mode": "central", "noise-multiplier": 0.8, "max-grad-norm": 0.5}


@pytest.mark.parametrize("clipping", ["client", "server"])
def test_central_dp_spends_every_clients_privacy_every_round_and_audits(
    tmp_path, fed_flat, clipping
):
    summary, run = simulate(
        tmp_path / clipping,
        fed_flat | CENTRAL,
        **{"central-clipping": clipping, "clients-per-round": 2, "num-server-rounds": 3},
    )
    lines = PrivacyLedger(run.path).read()
    records = [r for r in run.read_metrics() if r["round"] >= 1]
    assert [r["ledger_clients"] for r in records] == [[0, 1, 2]] * 3
    assert all(r["failures"] == [] for r in records)  # clients accept the wrapper's messages
    assert sum(r["replies"] for r in records) > 0
    for rnd, record in enumerate(records, start=1):
        this = [e for e in lines if e["round"] == rnd]
        assert {e["client"] for e in this} == {0, 1, 2}
        assert len({e["epsilon"] for e in this}) == 1  # the released model: same for all
        assert sum(e["trained"] for e in this) == record["replies"]
        assert all(
            e["mode"] == "central" and e["sample_rate"] == pytest.approx(2 / 3) for e in this
        )
    for client in _by_client(lines).values():
        eps = [e["epsilon"] for e in client]
        assert eps[0] < eps[1] < eps[2]
        trained = [e["trained"] for e in client]
        unsampled = [e["epsilon_unsampled"] for e in client]
        for prev, cur, t in zip([0.0, *unsampled], unsampled, trained, strict=False):
            assert (cur > prev) if t else (cur == prev)  # grows only in rounds it took part
    assert summary["privacy"]["mode"] == "central"
    assert summary["privacy"]["epsilon"] == pytest.approx(lines[-1]["epsilon"])
    proc = cli("audit", str(run.path), "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["mode"] == "central"
    assert report["unit"] == summary["privacy"]["unit"] == "client"  # all of a client's data


def test_empirical_audit_of_a_real_run_stays_below_its_epsilon(dp_run):
    _, run = dp_run
    proc = cli("audit", str(run.path), "--empirical", "--canaries", "300", "--json")
    found = json.loads(proc.stdout)["empirical"]
    # 300 canaries certify at most about 3.8: a larger theoretical ε is inconclusive (exit 3).
    expected = 3 if found["epsilon_theory"] >= found["ceiling"] else 0
    assert proc.returncode == expected, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert found["verdict"] == ("inconclusive" if expected else "consistent")
    assert not found["broken"] and found["epsilon_lower"] <= found["epsilon_theory"]
    assert json.loads((run.path / "audit_empirical.json").read_text())["canaries"] == 300


def test_under_local_dp_the_server_learns_no_client_timing_or_metrics(dp_run):
    """A round's record under local DP holds the public mechanism's spend and the server's
    own timing, never what the clients measured (their time, loss, examples, validation)."""
    _, run = dp_run
    for record in run.read_metrics()[1:]:
        leaked = {"client_train_seconds", "overhead_per_client_seconds", "train_loss", "examples"}
        assert not leaked & set(record), record
        assert not any(k.startswith("fed_") for k in record)
        assert record["train_phase_seconds"] >= 0.0
