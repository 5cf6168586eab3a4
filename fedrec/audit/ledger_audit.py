"""Audit a run's privacy ledger: recompute every client's ε and check it.

:func:`audit_run` reads ``privacy_ledger.jsonl`` (and, where present, the run's
``metrics.jsonl``, ``run.json`` and ``config.toml``), and

- recomputes each client's cumulative ε after every line from the recorded
  mechanism parameters alone (σ, q, steps, δ), with an accountant implemented
  independently of the one used in training (:mod:`fedrec.privacy.accounting`);
- flags any line whose reported ε (cumulative or for the round) differs from
  the recomputed one beyond a tolerance, any ε above the budget, any round the
  run log says was spent but has no ledger line, any malformed line, and any
  δ that changes between rounds or is not below 1/N.

The report (:class:`~fedrec.audit.results.AuditReport`) holds a per-client
table, the worst case, one sentence stating the guarantee, and the findings;
:func:`fedrec.audit.report.write_report` writes it out.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from fedrec.audit.cross_checks import (
    accountant_findings,
    centralized_findings,
    missing_lines,
)
from fedrec.audit.lines import (
    checkpoint_findings,
    expected_lines,
    read_ledger,
    run_settings,
)
from fedrec.audit.recompute import (
    Lines,
    Recomputed,
    curve,
    prv_cached,
    recompute,
    spend_mismatch,
    tight_source,
)
from fedrec.audit.results import (
    ACCOUNTANTS,
    MAX_FINDINGS_PER_CLIENT,
    TOLERANCE,
    AuditReport,
    ClientAudit,
    Finding,
)
from fedrec.errors import FedrecError
from fedrec.federated.client_state import CLIENT_STATE, state_files
from fedrec.privacy.accounting import rdp_to_epsilon, sgm_rdp
from fedrec.privacy.ledger import LEDGER
from fedrec.privacy.randomness import CSPRNG, OS_SEEDED

#: Where a line's DP randomness may come from.
PRIVATE_SOURCES = (OS_SEEDED, CSPRNG)


def audit_run(
    run_dir: str | Path,
    *,
    budget: float | None = None,
    accountant: str = "rdp",
    tolerance: float = TOLERANCE,
) -> AuditReport:
    """Audit ``run_dir``'s privacy ledger (see the module docstring)."""
    run_dir = Path(run_dir)
    settings = run_settings(run_dir)
    budget = _check_arguments(run_dir, settings, budget, accountant, tolerance)
    entries, findings = read_ledger(run_dir / LEDGER)
    modes = {e["mode"] for _, e in entries}
    if len(modes) > 1:
        findings.append(Finding("malformed", f"the ledger mixes privacy modes {sorted(modes)}"))
    mode = sorted(modes)[0] if modes else str(settings.get("privacy-mode", "local"))
    units = {e["unit"] for _, e in entries}
    unit = ", ".join(sorted(units)) or str(settings.get("privacy-unit", "?"))
    if mode == "central":  # the noise covers all of one client's data, whatever the unit
        unit = "client"
    by_client: dict[int, Lines] = defaultdict(list)
    for number, entry in entries:
        by_client[entry["client"]].append((number, entry))
    expected, centralized = expected_lines(run_dir)
    findings += missing_lines(entries, expected, mode, by_client)
    if centralized:
        findings += centralized_findings(run_dir, entries, tolerance)
    findings += checkpoint_findings(run_dir)
    findings += accountant_findings(run_dir, by_client)
    clients: list[ClientAudit] = []
    for client in sorted(by_client):
        audit, client_findings = _audit_client(
            client, by_client[client], mode, budget, accountant, tolerance
        )
        clients.append(audit)
        findings.extend(client_findings)
    notes: list[str] = []
    repeated = sum(1 for c in by_client.values() if len({e["round"] for _, e in c}) < len(c))
    if repeated:
        notes.append(
            f"{repeated} client(s) have more than one line for a round (a round re-run after a "
            "resume): every line is counted, since every update sent spent privacy."
        )
    fallbacks = {c.accountant for c in clients if c.accountant != accountant}
    notes += [f"some clients were recomputed with {a}" for a in sorted(fallbacks)]
    across = (None, None)
    if mode == "local" and settings.get("partition") == "scenario" and entries:
        across = _composed_over_clients(entries)
    return AuditReport(
        run_dir=str(run_dir),
        mode=mode,
        unit=unit,
        accountant=accountant,
        tolerance=tolerance,
        budget=budget,
        lines=len(entries),
        rounds=len({e["round"] for _, e in entries}),
        centralized=centralized,
        clients=clients,
        findings=findings,
        notes=notes,
        checks=_checks(run_dir, entries, findings, mode),
        epsilon_across_silos=across[0],
        delta_across_silos=across[1],
    )


def _composed_over_clients(entries: Lines) -> tuple[float, float]:
    """(ε, δ) of every client's spends composed (RDP adds up): the bound for a user whose
    data sits in every client, at the largest δ of any line times the number of clients."""
    total = np.zeros_like(sgm_rdp(1.0, 0.5))
    clients = set()
    for _, x in entries:
        clients.add(x["client"])
        if x["steps"]:
            total = total + x["steps"] * sgm_rdp(x["noise_multiplier"], x["sample_rate"])
    delta = max(x["delta"] for _, x in entries) * len(clients)
    return float(rdp_to_epsilon(total, delta)), delta


def _checks(run_dir: Path, entries: Lines, findings: list[Finding], mode: str) -> list[str]:
    """The implementation facts this audit verified, each as a sentence (for the statement)."""
    kinds = {f.kind for f in findings}
    out = []
    if entries and "randomness" not in kinds:
        sources = sorted({x["randomness"] for _, x in entries})
        out.append(
            f"DP randomness: every line's noise and sampling came from OS randomness "
            f"({', '.join(sources)}), not from the run's seed."
        )
    if entries and "delta" not in kinds:
        delta = max(x["delta"] for _, x in entries)
        n = min(x["records"] for _, x in entries)
        relation = "at most" if delta <= n**-1.1 * (1 + 1e-9) else "above N^-1.1 but below 1/N,"
        out.append(f"δ = {delta:.1e} is {relation} N^-1.1 for the N = {n} units of the population.")
    mechanism = run_dir / "mechanism.json"
    if mode == "local" and mechanism.is_file():
        saved = json.loads(mechanism.read_text(encoding="utf-8"))
        if saved.get("unit") == "interaction":
            out.append(
                f"Unit: a record is one user's interactions in one {saved['window']} s window, "
                "and a row's history stays inside its record: one interaction changes one record."
            )
        else:
            out.append("Unit: a record is one user and all of its data.")
    if entries and "chain" not in kinds:
        checkpoint = (run_dir / "checkpoint.json").is_file()
        out.append(
            f"Hash chain intact over {len(entries)} lines"
            + ("; the last checkpoint agrees." if checkpoint else ".")
        )
    states = state_files(run_dir / CLIENT_STATE)
    if states and "mismatch" not in kinds:
        out.append(f"{len(states)} clients' own accountants agree with the ledger.")
    if mode == "central":
        out.append("audit.md lists no per-client participation (the amplified ε needs it secret).")
    return out


def _check_arguments(
    run_dir: Path,
    settings: dict[str, Any],
    budget: float | None,
    accountant: str,
    tolerance: float,
) -> float | None:
    """Refuse what cannot be audited; the budget to check (given, or the run's own)."""
    if accountant not in ACCOUNTANTS:
        raise FedrecError(f"unknown accountant {accountant!r}: choose rdp or prv.")
    if not tolerance > 0:
        raise FedrecError(f"tolerance must be positive, got {tolerance}.")
    ledger_path = run_dir / LEDGER
    if not ledger_path.is_file():
        if settings.get("privacy-mode", "off") == "off" and settings:
            raise FedrecError(
                f"{run_dir} was trained without differential privacy (privacy-mode=off): there "
                "is no guarantee to audit. Use --empirical to measure what the model leaks."
            )
        raise FedrecError(
            f"{ledger_path} is missing: pass the directory of a run trained with "
            "privacy-mode=local or central."
        )
    if budget is None and float(settings.get("budget-epsilon", 0) or 0) > 0:
        budget = float(settings["budget-epsilon"])
    if budget is not None and not budget > 0:
        raise FedrecError(f"--budget must be positive, got {budget}.")
    return budget


class _Findings:
    """A client's findings, at most :data:`MAX_FINDINGS_PER_CLIENT` of each kind."""

    def __init__(self, client: int) -> None:
        self.client, self.found = client, []  # type: list[Finding]

    def add(self, kind: str, message: str, number: int, rnd: int) -> None:
        if sum(f.kind == kind for f in self.found) < MAX_FINDINGS_PER_CLIENT:
            self.found.append(Finding(kind, message, client=self.client, round=rnd, line=number))


def _audit_client(
    client: int,
    lines: Lines,
    mode: str,
    budget: float | None,
    accountant: str,
    tolerance: float,
) -> tuple[ClientAudit, list[Finding]]:
    found = _Findings(client)
    r = recompute(lines, mode)
    if len(set(r.deltas.tolist())) > 1:
        changes = sorted(set(r.deltas.tolist()))
        found.add("delta", f"client {client}: δ changes between rounds ({changes})", *_at(lines, 0))
    for i, (number, x) in enumerate(lines):
        _check_line_spend(found, i, number, x, r, mode, budget, tolerance)
    last_reported = float(lines[-1][1]["epsilon"])
    final_rdp, delta = float(r.cumulative[-1]), float(r.deltas[-1])
    final, used_accountant = final_rdp, "rdp"
    pld = r.tight_cumulative is not None and lines[-1][1]["accountant"] == "pld"
    mechanisms = tuple(
        (float(s), float(q), int(n)) for s, q, n in zip(r.sigma, r.rate, r.steps, strict=True)
    )
    if pld and r.tight_cumulative is not None and not math.isnan(r.tight_cumulative[-1]):
        # Accounted by PLD: state the tight ε recomputed (RDP is only the upper bound).
        final = float(r.tight_cumulative[-1])
        used_accountant = tight_source(list(mechanisms), delta)
    elif accountant == "prv":
        final, used_accountant = prv_cached(mechanisms, delta)
        if last_reported < final - tolerance * max(1.0, final):
            found.add(
                "mismatch",
                f"client {client}: reported ε = {last_reported:.6g} is below the PRV "
                f"accountant's {final:.6g}",
                *_at(lines, -1),
            )
    audit = ClientAudit(
        client=client,
        rounds=sum(1 for _, x in lines if x["trained"] and x["round"] >= 1),
        lines=len(lines),
        epsilon_reported=last_reported,
        epsilon=final,
        epsilon_rdp=final_rdp,
        epsilon_unsampled=None if r.unsampled is None else float(r.unsampled[-1]),
        delta=delta,
        accountant=used_accountant,
        budget_left=None
        if budget is None
        else budget - max(final if pld else final_rdp, last_reported),
        curve_rounds=[x["round"] for _, x in lines],
        curve_epsilon=curve(r, pld),
    )
    return audit, found.found


def _check_line_spend(
    found: _Findings,
    i: int,
    number: int,
    x: dict[str, Any],
    r: Recomputed,
    mode: str,
    budget: float | None,
    tolerance: float,
) -> None:
    """The checks of one line against its recomputation."""
    client, rnd = found.client, x["round"]
    where = f"client {client}, round {rnd}"
    if x["randomness"] not in PRIVATE_SOURCES:
        found.add(
            "randomness",
            f"{where}: the DP randomness came from {x['randomness']!r}, not from OS "
            "randomness: anyone who knows the seed could replay the noise",
            number,
            rnd,
        )
    if x["noise_multiplier"] <= 0 or math.isinf(x["epsilon"]) or math.isinf(x["epsilon_round"]):
        found.add(
            "noise",
            f"{where}: σ = {x['noise_multiplier']:g} (ε = {x['epsilon']}): no noise, no guarantee",
            number,
            rnd,
        )
    if x["delta"] >= 1.0 / x["records"]:
        found.add(
            "delta",
            f"{where}: δ = {x['delta']:.2e} is not below 1/N = "
            f"{1 / x['records']:.2e} (N = {x['records']})",
            number,
            rnd,
        )
    if not x["trained"] and mode == "local" and x["steps"]:
        found.add("mismatch", f"{where}: a declined round records {x['steps']} steps", number, rnd)
    pld = x["accountant"] == "pld" and r.tight_cumulative is not None
    checks = [("cumulative ε", "epsilon", r.cumulative, r.tight_cumulative)]
    checks.append(("round ε", "epsilon_round", r.alone, r.tight_alone))
    if r.unsampled is not None:
        checks.append(("ε without sampling", "epsilon_unsampled", r.unsampled, r.tight_unsampled))
    for label, key, upper, tight in checks:
        reported = x[key]
        if reported is None:
            found.add("mismatch", f"{where}: no {label} reported", number, rnd)
            continue
        why = spend_mismatch(float(reported), float(upper[i]), tight, i, pld, tolerance)
        if why:
            found.add("mismatch", f"{where}: reported {label} = {reported:.6g}, {why}", number, rnd)
    # The larger of the reported ε and its recomputation (the tight one for PLD lines).
    recomputed = float(r.cumulative[i])
    if pld and r.tight_cumulative is not None and not math.isnan(r.tight_cumulative[i]):
        recomputed = float(r.tight_cumulative[i])
    worst = max(x["epsilon"], recomputed)
    if budget is not None and worst > budget * (1 + 1e-9):
        found.add("breach", f"{where}: ε = {worst:.4g} exceeds the budget {budget:g}", number, rnd)


def _at(lines: Lines, i: int) -> tuple[int, int]:
    number, entry = lines[i]
    return number, entry["round"]
