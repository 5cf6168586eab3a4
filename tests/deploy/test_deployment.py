"""Real Flower processes on loopback: a SuperLink with TLS, node authentication and a
database, SuperNodes with their own data. Every process is stopped by pid, also when a
test fails."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedrec.audit.ledger_audit import audit_run
from fedrec.deploy.bringup import node_policy
from fedrec.deploy.demo import demo_config, prepare
from fedrec.deploy.processes import wait_until

pytestmark = pytest.mark.slow


def _values(tiny_overrides):
    return dict(item.split("=", 1) for item in tiny_overrides)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _recorded_pids(out):
    return [int(p.read_text()) for p in (out / "pids").glob("*.pid")]


def _run_demo(out, overrides):
    """`fedrec deploy demo` with 2 nodes, 1 round; every pid it left is killed (and
    returned, so the test can fail on it)."""
    sets = [arg for item in overrides for arg in ("--set", item)]
    fedrec = str(Path(sys.executable).parent / "fedrec")
    try:
        proc = subprocess.run(
            [fedrec, "deploy", "demo", "--out", str(out), "--nodes", "2", "--rounds", "1", *sets],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        leftover = _recorded_pids(out) if out.exists() else []
        for pid in leftover:
            os.killpg(pid, 9)
    return proc, leftover


def test_the_demo_runs_over_tls_with_authentication_and_passes_its_audit(tmp_path, tiny_overrides):
    out = tmp_path / "demo"
    proc, leftover = _run_demo(out, tiny_overrides)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not leftover  # the demo stopped everything it started
    assert "an unregistered node was refused" in proc.stdout
    assert "audit passed" in proc.stdout
    summary = json.loads((out / "run" / "summary.json").read_text())
    assert summary["federation"]["clients"] == 2
    assert summary["privacy"]["mode"] == "local"
    assert json.loads((out / "run" / "audit.json").read_text())["ok"]
    # TLS, node authentication and a database on the SuperLink, each node with its own dirs.
    superlink_log = (out / "logs" / "superlink.log").read_text()
    assert "https://127.0.0.1" in superlink_log
    lines = [json.loads(line) for line in (out / "run" / "privacy_ledger.jsonl").open()]
    assert {line["client"] for line in lines} == {0, 1}
    assert (out / "run" / "client-state" / "partition-1-privacy.json").is_file()  # gathered
    for i in range(2):
        assert (out / "state" / f"node-{i}" / f"partition-{i}-privacy.json").is_file()


def test_central_dp_with_secure_aggregation_runs_over_the_deployment(tmp_path, tiny_overrides):
    """SecAgg+ between real SuperNodes whose own policy requires it: a plain central round
    would be refused, so a finished run means every update left its node masked."""
    out = tmp_path / "secagg"
    overrides = [
        *tiny_overrides,
        "privacy-mode=central",
        "secure-aggregation=true",
        "popularity-prior=false",  # its secure sum is tested in-process; this saves 40 s
    ]
    proc, leftover = _run_demo(out, overrides)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not leftover
    assert "audit passed" in proc.stdout
    run_log = (out / "logs" / "flwr-run.log").read_text()
    # The round through SecAgg+; the closing line says so.
    assert run_log.count("INFO:Secure aggregation completed") == 1
    assert "secure aggregation: the server saw only sums of updates" in run_log
    values = _values(tiny_overrides) | {"privacy-mode": "central", "secure-aggregation": True}
    assert node_policy(demo_config(values, out, 2, 1))["secure-aggregation"] is True
    summary = json.loads((out / "run" / "summary.json").read_text())
    assert summary["privacy"]["mode"] == "central" and summary["privacy"]["secure_aggregation"]
    rounds = [json.loads(line) for line in (out / "run" / "metrics.jsonl").open()]
    assert rounds[1]["replies"] == 2 and "train_loss" not in rounds[1]


@pytest.fixture
def deployment(request, tmp_path, tiny_overrides):
    values = _values(tiny_overrides)
    out = tmp_path / "faults"
    cfg = demo_config(values | {"min-replies": 1}, out, nodes=3, rounds=request.param)
    dep = prepare(cfg, out, 3, say=lambda _: None)
    try:
        yield dep
    finally:
        dep.processes.stop_all()
        assert not [pid for pid in _recorded_pids(out) if _alive(pid)]


def _epsilons(run, client):
    lines = [json.loads(line) for line in (run / "privacy_ledger.jsonl").open()]
    return [line["epsilon"] for line in lines if line["client"] == client and line["trained"]]


# The SuperLink lets a crashed node back in only after two missed 30 s heartbeats, when
# round 2 gives up on it (or delivers its message again); under load it is back for
# round 4, so rounds 4-6 leave it time.
@pytest.mark.parametrize("deployment", [6], indirect=True)
def test_a_killed_node_rejoins_and_a_corrupt_node_is_left_out(deployment):
    dep = deployment
    (dep.layout.data / "node-2" / "interactions.parquet").write_bytes(b"not parquet")
    dep.bring_up()
    dep.start_run()
    wait_until(lambda: dep.rounds_done() >= 1, 300, "round 1")
    epsilon_before = _epsilons(dep.layout.run, 0)[-1]
    dep.processes.kill("node-0")  # as a crash would
    dep.restart_node(0)  # same key, same data, same state directory: over TLS + auth again
    code = dep.wait_run(600)
    log = dep.processes.log("flwr-run").read_text()
    assert code == 0, log[-3000:]
    run = dep.layout.run
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert [m["round"] for m in metrics][-1] == 6
    # The node with corrupt data failed with a clear error each round; the others went on.
    failures = [str(f) for m in metrics for f in m.get("failures", [])]
    corrupt = [f for f in failures if "interactions.parquet" in f]
    assert len(corrupt) == 6, failures
    assert not _epsilons(run, 2)
    # The restarted node trained again, and its ε went on from where it was, never reset.
    after = _epsilons(run, 0)
    assert after[-1] > epsilon_before
    assert after == sorted(after)
    assert len(dep.gather_accountants()) == 2  # the corrupt node never spent
    report = audit_run(run)
    assert report.ok, report.as_dict()
    assert "2 clients' own accountants agree with the ledger." in report.checks


def _answered(dep, i):
    """The last round node i answered with training (its saved reply), 0 if none."""
    from safetensors import safe_open

    path = dep.layout.state(i) / f"partition-{i}-last-reply.safetensors"
    try:
        with safe_open(str(path), framework="pt") as handle:
            return int((handle.metadata() or {}).get("round", 0))
    except (OSError, ValueError, RuntimeError):
        return 0


def _node_epsilon(dep, i):
    """What node i's own accountant says it spent (its state file), via the mechanism."""
    from fedrec.privacy.mechanism import LocalMechanism

    mechanism = LocalMechanism.from_json((dep.layout.run / "mechanism.json").read_text())
    history = json.loads((dep.layout.state(i) / f"partition-{i}-privacy.json").read_text())
    return mechanism.epsilon([tuple(h) for h in history["accountant"]])


@pytest.mark.parametrize("deployment", [3], indirect=True)
def test_a_restarted_superlink_resumes_the_run_and_no_ledger_line_is_lost_or_doubled(
    deployment,
):
    dep = deployment
    dep.bring_up()
    dep.start_run()
    # Kill it once node 0 has trained round 2 (spent, and sent its update) but before the
    # round is recorded: the update is lost with the SuperLink.
    wait_until(lambda: _answered(dep, 0) == 2, 300, "node 0's round 2")
    dep.processes.kill("superlink")  # with the ServerApp it runs
    assert dep.rounds_done() == 1
    dep.wait_run(60)  # `flwr run` loses its SuperLink and ends
    dep.start_superlink()  # the same --database: registrations survive, nodes reconnect
    dep.wait_online(3)
    with dep.layout.run_config.open("a") as config:
        config.write("resume = true\n")
    dep.start_run()
    code = dep.wait_run(600)
    assert code == 0, dep.processes.log("flwr-run").read_text()[-3000:]
    run = dep.layout.run
    lines = [json.loads(line) for line in (run / "privacy_ledger.jsonl").open()]
    keys = [(line["round"], line["client"]) for line in lines]
    assert sorted(keys) == sorted((r, c) for r in range(4) for c in range(3))  # each once
    assert len(dep.gather_accountants()) == 3
    assert audit_run(run).ok  # which compares each node's accountant with the ledger
    # Each node's own accountant agrees with the server's ledger: whatever it trained
    # before the SuperLink died, it did not train (or spend) again for that round.
    for i in range(3):
        ledger = max(line["epsilon"] for line in lines if line["client"] == i)
        assert _node_epsilon(dep, i) == pytest.approx(ledger, rel=1e-6)
