"""`fedrec audit`: recomputation, and detection of tampering, gaps and breaches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from opacus.accountants import RDPAccountant
from typer.testing import CliRunner

from fedrec.audit.ledger_audit import audit_run
from fedrec.cli import app
from fedrec.errors import FedrecError
from fedrec.federated.client_state import save_history, state_file
from fedrec.privacy.calibration import epsilon_of
from fedrec.privacy.ledger import LEDGER, LedgerEntry, PrivacyLedger, line_hash

DELTA = 1e-5


def write_run(
    path, rounds=4, clients=3, *, decline_at=None, budget=0.0, records=500, accountant="rdp"
):
    """A run directory with an honest ledger (ε by Opacus's RDP, or by the PLD accountant
    training uses) and the run log that lists it."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.toml").write_text(
        f'[fedrec]\nprivacy-mode = "local"\nbudget-epsilon = {budget!r}\n', encoding="utf-8"
    )
    ledger = PrivacyLedger(path)
    history = {c: [] for c in range(clients)}
    with open(path / "metrics.jsonl", "w", encoding="utf-8") as log:
        for rnd in range(1, rounds + 1):
            for c in range(clients):
                sigma, q = 1.0 + 0.1 * c, 0.05
                steps = 0 if decline_at == (c, rnd) else 20
                if steps:
                    history[c].append((sigma, q, steps))
                acc = RDPAccountant()
                acc.history = list(history[c])
                alone = RDPAccountant()
                alone.history = [(sigma, q, steps)]
                ledger.append(
                    LedgerEntry(
                        **{
                            "round": rnd,
                            "client": c,
                            "mode": "local",
                            "unit": "user",
                            "noise_multiplier": sigma,
                            "max_grad_norm": 1.0,
                            "sample_rate": q,
                            "steps": steps,
                            "delta": DELTA,
                            "records": records,
                            "epsilon_round": _eps(alone.history, accountant) if steps else 0.0,
                            "epsilon": _eps(acc.history, accountant) if history[c] else 0.0,
                            "epsilon_unsampled": None,
                            "accountant": accountant,
                            "trained": bool(steps),
                            "randomness": "os",
                        }
                    )
                )
            log.write(json.dumps({"round": rnd, "ledger_clients": list(range(clients))}) + "\n")
    # What a real run leaves beside the ledger: the checkpoint's record of it, and each
    # client's own accountant.
    (path / "checkpoint.json").write_text(
        json.dumps({"round": rounds, "ledger_lines": ledger.count, "ledger_head": ledger.head})
    )
    for c, spent in history.items():
        save_history(state_file(path / "client-state", c), spent)
    return path


def _eps(history, accountant):
    if accountant == "pld":
        return epsilon_of(history, DELTA)
    acc = RDPAccountant()
    acc.history = list(history)
    return acc.get_epsilon(DELTA)


def _forge(run, change):
    """Rewrite the ledger as a careful forger would: ``change`` each line, recompute every
    ε to match, and rebuild the hash chain."""
    entries = [json.loads(x) for x in _lines(run)]
    histories: dict[int, list] = {}
    prev, out = "", []
    for e in entries:
        change(e)
        spent = histories.setdefault(e["client"], [])
        if e["steps"]:
            spent.append((e["noise_multiplier"], e["sample_rate"], e["steps"]))
        acc, alone = RDPAccountant(), RDPAccountant()
        acc.history, alone.history = (
            list(spent),
            [(e["noise_multiplier"], e["sample_rate"], e["steps"])],
        )
        e["epsilon"] = acc.get_epsilon(DELTA) if spent else 0.0
        e["epsilon_round"] = alone.get_epsilon(DELTA) if e["steps"] else 0.0
        e["prev"] = prev
        out.append(json.dumps(e))
        prev = line_hash(out[-1])
    _rewrite(run, out)


def _rechain(run, entries):
    """Write ``entries`` as the ledger with its hash chain rebuilt, as a careful forger
    would after editing lines."""
    prev, out = "", []
    for e in entries:
        e["prev"] = prev
        out.append(json.dumps(e))
        prev = line_hash(out[-1])
    _rewrite(run, out)


def _lines(path):
    return (path / LEDGER).read_text().splitlines()


def _rewrite(path, lines):
    (path / LEDGER).write_text("\n".join(lines) + "\n")


def test_an_honest_ledger_passes_and_matches_the_training_accountant(tmp_path):
    run = write_run(tmp_path / "run")
    report = audit_run(run)
    assert report.ok, report.findings
    assert len(report.clients) == 3 and report.rounds == 4 and report.lines == 12
    for c in report.clients:
        assert c.epsilon == pytest.approx(c.epsilon_reported, rel=1e-6)
        assert c.rounds == 4
        assert np.all(np.diff(c.curve_epsilon) > 0)  # ε grows with every round trained
    assert report.worst.client == 0  # the smallest noise multiplier
    assert "user" in report.guarantee() and "client 0" in report.guarantee()


def test_a_pld_ledger_is_confirmed_by_prv_and_bounded_by_rdp(tmp_path):
    run = write_run(tmp_path / "run", accountant="pld")
    report = audit_run(run)
    assert report.ok, report.findings
    for c in report.clients:
        assert c.accountant == "prv" and c.epsilon == pytest.approx(c.epsilon_reported, rel=0.03)
        assert c.epsilon_rdp > c.epsilon_reported  # RDP bounds it from above
    lines = [json.loads(x) for x in _lines(run)]
    lines[4]["epsilon"] *= 0.8  # a PLD ε understated by a fifth
    _rechain(run, lines)
    found = [f for f in audit_run(run).findings if f.kind == "mismatch"]
    assert [(f.client, f.round) for f in found] == [(1, 2)]
    assert "under-reported" in found[0].message


def test_a_tampered_epsilon_is_a_mismatch(tmp_path):
    run = write_run(tmp_path / "run")
    lines = _lines(run)
    entry = json.loads(lines[7])  # round 3, client 1
    entry["epsilon"] *= 0.5
    lines[7] = json.dumps(entry)
    _rewrite(run, lines)
    report = audit_run(run)
    kinds = {(f.kind, f.client, f.round) for f in report.findings}
    assert kinds == {("mismatch", 1, 3), ("chain", None, None)}  # the next line's prev breaks
    assert any("under-reported" in f.message for f in report.findings)


def test_a_tampered_mechanism_is_a_mismatch_from_that_round_on(tmp_path):
    run = write_run(tmp_path / "run")
    lines = _lines(run)
    entry = json.loads(lines[3])  # round 2, client 0
    entry["noise_multiplier"] = 3.0  # claims more noise than was used
    lines[3] = json.dumps(entry)
    _rewrite(run, lines)
    report = audit_run(run)
    assert {(f.kind, f.client) for f in report.findings} == {("mismatch", 0), ("chain", None)}
    assert {f.round for f in report.findings if f.kind == "mismatch"} == {2, 3, 4, None}
    assert any("own accountant" in f.message for f in report.findings)  # round None
    assert [f.line for f in report.findings if f.kind == "chain"] == [5]


def test_a_consistently_forged_larger_noise_is_caught_by_the_checkpoint_and_accountant(
    tmp_path,
):
    run = write_run(tmp_path / "run")

    def more_noise(e):
        if e["client"] == 0 and e["round"] == 2:
            e["noise_multiplier"] = 3.0

    _forge(run, more_noise)
    report = audit_run(run)
    kinds = {(f.kind, f.client) for f in report.findings}
    assert ("chain", None) in kinds  # the checkpoint's last hash is not the ledger's
    assert ("mismatch", 0) in kinds  # client 0's own accountant spent σ=1.0, not 3.0
    assert not any(f.kind == "mismatch" and f.round for f in report.findings)  # ε match


def test_the_last_round_cut_from_ledger_and_log_is_caught_by_the_checkpoint(tmp_path):
    run = write_run(tmp_path / "run")
    _rewrite(run, _lines(run)[:-3])
    log = (run / "metrics.jsonl").read_text().splitlines()[:-1]
    (run / "metrics.jsonl").write_text("\n".join(log) + "\n")
    report = audit_run(run)
    assert any(f.kind == "chain" and "cut from its end" in f.message for f in report.findings)


@pytest.mark.parametrize(
    "change,kind",
    [
        (
            {"noise_multiplier": 0.0, "epsilon": float("inf"), "epsilon_round": float("inf")},
            "noise",
        ),
        ({"randomness": "seeded"}, "randomness"),
    ],
)
def test_no_noise_or_replayable_randomness_is_a_finding(tmp_path, change, kind):
    run = write_run(tmp_path / "run", rounds=2)
    lines = [json.loads(x) for x in _lines(run)]
    lines[0].update(change)
    _rechain(run, lines)
    report = audit_run(run)
    assert kind in {f.kind for f in report.findings}, report.findings


def test_a_deleted_line_is_a_missing_round(tmp_path):
    run = write_run(tmp_path / "run")
    lines = _lines(run)
    del lines[5]  # round 2, client 2
    _rewrite(run, lines)
    report = audit_run(run)
    missing = [f for f in report.findings if f.kind == "missing"]
    assert [(f.client, f.round) for f in missing] == [(2, 2)]
    # Its later cumulative ε cannot be explained by what is left either.
    assert any(f.kind == "mismatch" and f.client == 2 for f in report.findings)


def test_malformed_and_torn_lines_are_reported_with_their_line_numbers(tmp_path):
    run = write_run(tmp_path / "run", rounds=1)
    lines = _lines(run)
    bad = json.loads(lines[0])
    bad["sample_rate"] = 1.5
    lines[0] = json.dumps(bad)
    lines[1] = "{not json"
    (run / LEDGER).write_text("\n".join(lines))  # the last line lacks its newline
    report = audit_run(run)
    malformed = {f.line: f.message for f in report.findings if f.kind == "malformed"}
    assert set(malformed) == {1, 2, 3}
    assert "sample_rate" in malformed[1]
    assert "interrupted" in malformed[3]


def test_a_breach_of_the_budget_is_found(tmp_path):
    run = write_run(tmp_path / "run")
    eps = {c.client: c.epsilon for c in audit_run(run).clients}
    budget = (eps[1] + eps[2]) / 2  # client 0 and 1 above it, client 2 below
    report = audit_run(run, budget=budget)
    assert {f.client for f in report.findings if f.kind == "breach"} == {0, 1}
    assert all(f.kind == "breach" for f in report.findings)
    left = {c.client: c.budget_left for c in report.clients}
    assert left[2] > 0 > left[0]


def test_the_run_budget_is_used_by_default_and_declined_rounds_cost_nothing(tmp_path):
    run = write_run(tmp_path / "run", decline_at=(1, 4), budget=100.0)
    report = audit_run(run)
    assert report.ok and report.budget == 100.0
    client = next(c for c in report.clients if c.client == 1)
    assert client.rounds == 3 and client.curve_epsilon[-1] == client.curve_epsilon[-2]


def test_delta_not_below_one_over_n_is_flagged(tmp_path):
    run = write_run(tmp_path / "run", rounds=1, records=200_000)
    assert any(f.kind == "delta" for f in audit_run(run).findings)


def test_bad_requests_get_clear_errors(tmp_path):
    with pytest.raises(FedrecError, match=r"privacy_ledger\.jsonl is missing"):
        audit_run(tmp_path)
    (tmp_path / "config.toml").write_text('[fedrec]\nprivacy-mode = "off"\n')
    with pytest.raises(FedrecError, match="without differential privacy"):
        audit_run(tmp_path)
    run = write_run(tmp_path / "run", rounds=1)
    with pytest.raises(FedrecError, match="unknown accountant"):
        audit_run(run, accountant="gdp")


def test_cli_exit_codes_and_report_files(tmp_path):
    runner = CliRunner()
    run = write_run(tmp_path / "run")
    result = runner.invoke(app, ["audit", str(run)])
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output
    for name in ("audit.md", "audit.json", "audit_epsilon.png"):
        assert (run / name).stat().st_size > 0
    data = json.loads((run / "audit.json").read_text())
    assert data["ok"] and len(data["clients"]) == 3
    result = runner.invoke(app, ["audit", str(run), "--accountant", "prv", "--json"])
    assert result.exit_code == 0, result.output
    prv = json.loads(result.output)
    assert all(c["epsilon"] <= c["epsilon_rdp"] for c in prv["clients"])

    lines = _lines(run)
    before = (run / LEDGER).read_bytes()
    entry = json.loads(lines[0])
    entry["epsilon"] = 0.0
    lines[0] = json.dumps(entry)
    _rewrite(run, lines)
    tampered = (run / LEDGER).read_bytes()
    result = runner.invoke(app, ["audit", str(run)])
    assert result.exit_code == 1
    assert "mismatch" in result.output and "FAILED" in result.output
    assert (run / LEDGER).read_bytes() == tampered != before  # the audit never writes the ledger
    result = runner.invoke(app, ["audit", str(tmp_path / "nothing")])
    assert result.exit_code == 2


@pytest.mark.parametrize("claimed", ["true", "understated"])
def test_a_pld_spend_past_where_prv_is_reliable_is_recomputed_not_trusted(tmp_path, claimed):
    """At large ε PRV is unreliable and the RDP bound sits far above PLD's ε, so neither
    can catch a PLD line reported as 1.0 where its mechanism spends 26.6: the audit
    recomputes PLD from the mechanism, finds the under-report and the breach, and states
    the recomputed ε and the budget left from it."""
    from fedrec.privacy.ledger import PrivacySpend

    sigma, q, steps = 0.6, 0.2, 50
    true = epsilon_of([(sigma, q, steps)], DELTA)
    assert true > 20  # past PRV's reliable range
    epsilon = true if claimed == "true" else 1.0
    spend = PrivacySpend(
        noise_multiplier=sigma,
        max_grad_norm=1.0,
        sample_rate=q,
        delta=DELTA,
        records=1000,
        steps=steps,
        epsilon=epsilon,
        epsilon_round=epsilon,
    )
    PrivacyLedger(tmp_path).append(spend.entry(1, 0, "local", "user", "os"))
    report = audit_run(tmp_path, budget=5.0)
    client = report.clients[0]
    assert client.epsilon == pytest.approx(true, rel=1e-6)
    assert client.accountant.startswith("pld")
    assert client.budget_left == pytest.approx(5.0 - true, rel=1e-6)
    kinds = sorted(f.kind for f in report.findings)
    assert kinds == (["breach"] if claimed == "true" else ["breach", "mismatch", "mismatch"])


def test_a_centralized_ledger_that_drops_its_last_epoch_is_caught_by_the_run_log(tmp_path):
    """A centralized run has no checkpoint of its ledger. A forger who rewrites the last
    epoch's line as not trained (ε back to the epoch before, chain rebuilt) is caught by
    the ε the run log recorded while training."""
    from fedrec.privacy.ledger import PrivacySpend
    from fedrec.runs.rundir import RunDir

    RunDir(tmp_path).write_kind("centralized")
    ledger, spent = PrivacyLedger(tmp_path), []
    with open(tmp_path / "metrics.jsonl", "w", encoding="utf-8") as log:
        for epoch in (1, 2, 3):
            spent.append((1.1, 0.05, 20))
            eps = epsilon_of(spent, DELTA)
            spend = PrivacySpend(
                noise_multiplier=1.1,
                max_grad_norm=1.0,
                sample_rate=0.05,
                delta=DELTA,
                records=500,
                steps=20,
                epsilon=eps,
                epsilon_round=epsilon_of(spent[-1:], DELTA),
            )
            ledger.append(spend.entry(epoch, 0, "local", "user", "os"))
            log.write(json.dumps({"epoch": epoch, "epsilon": eps}) + "\n")
    assert audit_run(tmp_path).ok
    entries = [json.loads(x) for x in _lines(tmp_path)]
    entries[-1].update(steps=0, trained=False, epsilon=entries[-2]["epsilon"], epsilon_round=0.0)
    _rechain(tmp_path, entries)
    report = audit_run(tmp_path)
    assert not report.ok
    messages = [f.message for f in report.findings if f.kind == "mismatch"]
    assert any("epoch 3: the ledger says" in m and "run log recorded" in m for m in messages)
    assert any("epoch 3: a centralized run trains every epoch" in m for m in messages)
    assert not any("checkpoint" in c for c in report.checks)
