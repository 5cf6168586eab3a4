"""Audit a run's privacy ledger: recompute every client's ε and check it.

:func:`audit_run` reads ``privacy_ledger.jsonl`` (and, where present, the run's
``metrics.jsonl`` and ``config.toml``), and

- recomputes each client's cumulative ε after every line from the recorded
  mechanism parameters alone (σ, q, steps, δ), with an accountant implemented
  independently of the one used in training (:mod:`fedrec.privacy.accounting`);
- flags any line whose reported ε (cumulative or for the round) differs from
  the recomputed one beyond a tolerance, any ε above the budget, any round the
  run log says was spent but has no ledger line, any malformed line, and any
  δ that changes between rounds or is not below 1/N.

The report (:class:`AuditReport`) holds a per-client table, the worst case, one
sentence stating the guarantee, and the findings;
:func:`fedrec.privacy.audit_report.write_report` writes it out.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fedrec.errors import FedrecError
from fedrec.privacy.accounting import prv_epsilon, rdp_to_epsilon, sgm_rdp
from fedrec.privacy.ledger import FIELDS, LEDGER

TOLERANCE = 0.01  # relative (absolute below ε = 1)
ERRORS = ("malformed", "missing", "mismatch", "breach", "delta")
ACCOUNTANTS = ("rdp", "prv")
_MAX_FINDINGS_PER_CLIENT = 5


@dataclass(frozen=True)
class Finding:
    kind: str  # one of ERRORS
    message: str
    client: int | None = None
    round: int | None = None
    line: int | None = None


@dataclass
class ClientAudit:
    client: int
    rounds: int  # rounds in which it trained (its update was used)
    lines: int
    epsilon_reported: float
    epsilon: float  # recomputed with the audit's accountant
    epsilon_rdp: float
    epsilon_unsampled: float | None
    delta: float
    accountant: str
    budget_left: float | None
    curve_rounds: list[int] = field(default_factory=list, repr=False)
    curve_epsilon: list[float] = field(default_factory=list, repr=False)


@dataclass
class AuditReport:
    run_dir: str
    mode: str
    unit: str
    accountant: str
    tolerance: float
    budget: float | None
    lines: int
    rounds: int
    centralized: bool
    clients: list[ClientAudit]
    findings: list[Finding]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def worst(self) -> ClientAudit | None:
        return max(self.clients, key=lambda c: c.epsilon, default=None)

    def guarantee(self) -> str:
        """The guarantee in one plain sentence."""
        w = self.worst
        if w is None:
            return "The ledger holds no privacy spend: no guarantee to state."
        eps = f"({w.epsilon:.3g}, {w.delta:.1e})"
        if self.mode == "central":
            unsampled = max((c.epsilon_unsampled or 0.0 for c in self.clients), default=0.0)
            return (
                f"The released models are {eps}-differentially private with respect to all "
                f"of any one client's data, against anyone who sees only the released models "
                f"(with the amplification of client sampling, over {self.rounds} rounds); "
                f"against anyone who also knows which clients took part in each round, the "
                f"worst client has ε = {unsampled:.3g}; the server itself sees each clipped "
                "update before noise and is not protected against."
            )
        if self.centralized:
            return (
                f"The trained model is {eps}-differentially private with respect to any one "
                f"{self.unit} of the training data, against anyone who sees the model, after "
                f"{w.lines} epochs (recomputed with {w.accountant})."
            )
        return (
            f"Every client's released updates, and every model built from them, are at worst "
            f"{eps}-differentially private with respect to any one {self.unit} of that "
            f"client's data, against the server, the other clients and anyone who sees the "
            f"model (client {w.client}, {w.rounds} rounds trained; recomputed with "
            f"{w.accountant})."
        )

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("clients", "findings")}
        out["ok"] = self.ok
        out["guarantee"] = self.guarantee()
        out["worst"] = None if self.worst is None else self.worst.client
        out["clients"] = [asdict(c) for c in self.clients]
        out["findings"] = [asdict(f) for f in self.findings]
        return out


# -- reading -------------------------------------------------------------------------------
_NUMBER = (int, float)


def _check_line(entry: Any) -> str | None:
    """Why a parsed ledger line is malformed, or None."""
    if not isinstance(entry, dict):
        return "is not a JSON object"
    missing = [f for f in FIELDS if f not in entry]
    if missing:
        return f"lacks {', '.join(missing)}"

    def integer(key: str, low: int) -> bool:
        v = entry[key]
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    def number(key: str, low: float, high: float = math.inf, *, open_low: bool = False) -> bool:
        v = entry[key]
        if isinstance(v, bool) or not isinstance(v, _NUMBER) or math.isnan(v):
            return False
        return (v > low if open_low else v >= low) and v <= high

    checks = {
        "round": integer("round", 1),
        "client": integer("client", 0),
        "steps": integer("steps", 0),
        "records": integer("records", 1),
        "noise_multiplier": number("noise_multiplier", 0.0),
        "max_grad_norm": number("max_grad_norm", 0.0, open_low=True),
        "sample_rate": number("sample_rate", 0.0, 1.0),
        "delta": number("delta", 0.0, 1.0, open_low=True),
        "epsilon": number("epsilon", 0.0),
        "epsilon_round": number("epsilon_round", 0.0),
        "mode": entry["mode"] in ("local", "central"),
        "trained": isinstance(entry["trained"], bool),
        "unit": isinstance(entry["unit"], str),
        "accountant": isinstance(entry["accountant"], str),
        "epsilon_unsampled": entry["epsilon_unsampled"] is None or number("epsilon_unsampled", 0),
    }
    bad = [k for k, good in checks.items() if not good]
    return f"has an invalid {', '.join(bad)}" if bad else None


def read_ledger(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[Finding]]:
    """Well-formed lines (with their line numbers) and findings for the others."""
    text = path.read_text(encoding="utf-8", errors="replace")
    entries: list[tuple[int, dict[str, Any]]] = []
    findings: list[Finding] = []
    raw = text.split("\n")
    torn = raw[-1] != ""  # the file must end with a newline: a torn last write does not
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            continue
        why = None
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            why = f"is not valid JSON ({err.msg})"
            entry = None
        else:
            why = _check_line(entry)
        if why is None and torn and number == len(raw):
            why = "has no line end (an interrupted write)"
        if why is not None:
            findings.append(Finding("malformed", f"ledger line {number} {why}", line=number))
        else:
            entries.append((number, entry))
    return entries, findings


def _expected_lines(run_dir: Path) -> tuple[dict[int, set[int]], bool]:
    """Round → the clients the run log says spent privacy; and whether it is centralized
    (``fedrec train``: one line per epoch, client 0)."""
    path = run_dir / "metrics.jsonl"
    expected: dict[int, set[int]] = {}
    centralized = False
    if not path.is_file():
        return expected, centralized
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "ledger_clients" in record and int(record.get("round", 0)) >= 1:
            expected[int(record["round"])] = {int(c) for c in record["ledger_clients"]}
        elif "epoch" in record and "epsilon" in record:
            expected[int(record["epoch"])] = {0}
            centralized = True
    return expected, centralized


def _run_settings(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.toml"
    if not path.is_file():
        return {}
    from fedrec.config import load_toml

    try:
        return load_toml(path)
    except (FedrecError, ValueError):
        return {}


# -- recomputation ------------------------------------------------------------------------
def _close(reported: float, recomputed: float, tolerance: float) -> bool:
    if math.isinf(reported) or math.isinf(recomputed):
        return reported == recomputed
    return abs(reported - recomputed) <= tolerance * max(1.0, abs(recomputed))


def audit_run(
    run_dir: str | Path,
    *,
    budget: float | None = None,
    accountant: str = "rdp",
    tolerance: float = TOLERANCE,
) -> AuditReport:
    """Audit ``run_dir``'s privacy ledger (see the module docstring)."""
    run_dir = Path(run_dir)
    if accountant not in ACCOUNTANTS:
        raise FedrecError(f"unknown accountant {accountant!r}: choose rdp or prv.")
    if not tolerance > 0:
        raise FedrecError(f"tolerance must be positive, got {tolerance}.")
    ledger_path = run_dir / LEDGER
    settings = _run_settings(run_dir)
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

    entries, findings = read_ledger(ledger_path)
    notes: list[str] = []
    modes = {e["mode"] for _, e in entries}
    if len(modes) > 1:
        findings.append(Finding("malformed", f"the ledger mixes privacy modes {sorted(modes)}"))
    mode = sorted(modes)[0] if modes else str(settings.get("privacy-mode", "local"))
    units = {e["unit"] for _, e in entries}
    unit = ", ".join(sorted(units)) or str(settings.get("privacy-unit", "?"))

    by_client: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for number, entry in entries:
        by_client[entry["client"]].append((number, entry))

    # Lines the run log says must exist.
    expected, centralized = _expected_lines(run_dir)
    present: dict[int, set[int]] = defaultdict(set)
    for _, entry in entries:
        present[entry["round"]].add(entry["client"])
    for rnd in sorted(expected):
        want = expected[rnd]
        for client in sorted(want - present.get(rnd, set())):
            findings.append(
                Finding(
                    "missing",
                    f"round {rnd}: client {client} took part but the ledger has no line for it",
                    client=client,
                    round=rnd,
                )
            )
    if mode == "central" and entries:
        rounds_seen = sorted(present)
        for client in by_client:
            lacking = [r for r in rounds_seen if client not in present[r]]
            for rnd in lacking[:_MAX_FINDINGS_PER_CLIENT]:
                findings.append(
                    Finding(
                        "missing",
                        f"round {rnd}: client {client} has no line (under central DP every "
                        "release spends every client's privacy)",
                        client=client,
                        round=rnd,
                    )
                )

    clients: list[ClientAudit] = []
    for client in sorted(by_client):
        audit, client_findings = _audit_client(
            client, by_client[client], mode, budget, accountant, tolerance
        )
        clients.append(audit)
        findings.extend(client_findings)
    repeated = sum(1 for c in by_client.values() if len({e["round"] for _, e in c}) < len(c))
    if repeated:
        notes.append(
            f"{repeated} client(s) have more than one line for a round (a round re-run after a "
            "resume): every line is counted, since every update sent spent privacy."
        )
    fallbacks = {c.accountant for c in clients if c.accountant != accountant}
    notes += [f"some clients were recomputed with {a}" for a in sorted(fallbacks)]
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
    )


def _audit_client(
    client: int,
    lines: list[tuple[int, dict[str, Any]]],
    mode: str,
    budget: float | None,
    accountant: str,
    tolerance: float,
) -> tuple[ClientAudit, list[Finding]]:
    found: list[Finding] = []

    def add(kind: str, message: str, number: int, rnd: int) -> None:
        if sum(f.kind == kind for f in found) < _MAX_FINDINGS_PER_CLIENT:
            found.append(Finding(kind, message, client=client, round=rnd, line=number))

    e = [entry for _, entry in lines]
    sigma = np.array([x["noise_multiplier"] for x in e], dtype=np.float64)
    rate = np.array([x["sample_rate"] for x in e], dtype=np.float64)
    steps = np.array([x["steps"] for x in e], dtype=np.float64)
    deltas = np.array([x["delta"] for x in e], dtype=np.float64)
    trained = np.array([x["trained"] for x in e], dtype=bool)

    table = {key: sgm_rdp(*key) for key in set(zip(sigma.tolist(), rate.tolist(), strict=True))}
    per_line = np.stack([table[(s, q)] for s, q in zip(sigma, rate, strict=True)])
    per_line = per_line * steps[:, None]
    cumulative = rdp_to_epsilon(np.cumsum(per_line, axis=0), deltas)
    alone = rdp_to_epsilon(per_line, deltas)
    unsampled = None
    if mode == "central":
        gauss = {s: sgm_rdp(s, 1.0) for s in set(sigma.tolist())}
        used = np.stack([gauss[s] for s in sigma]) * (steps * trained)[:, None]
        unsampled = rdp_to_epsilon(np.cumsum(used, axis=0), deltas)

    if len(set(deltas.tolist())) > 1:
        changes = sorted(set(deltas.tolist()))
        add("delta", f"client {client}: δ changes between rounds ({changes})", *_at(lines, 0))
    for i, (number, x) in enumerate(lines):
        rnd = x["round"]
        if x["delta"] >= 1.0 / x["records"]:
            add(
                "delta",
                f"client {client}, round {rnd}: δ = {x['delta']:.2e} is not below 1/N = "
                f"{1 / x['records']:.2e} (N = {x['records']})",
                number,
                rnd,
            )
        if not x["trained"] and mode == "local" and x["steps"]:
            add(
                "mismatch",
                f"client {client}, round {rnd}: a declined round records {x['steps']} steps",
                number,
                rnd,
            )
        if not _close(x["epsilon"], float(cumulative[i]), tolerance):
            hint = (
                " (higher than the recorded mechanisms explain: a spend is missing before it)"
                if x["epsilon"] > cumulative[i]
                else " (lower than the recorded mechanisms give: under-reported)"
            )
            add(
                "mismatch",
                f"client {client}, round {rnd}: reported cumulative ε = {x['epsilon']:.6g}, "
                f"recomputed {cumulative[i]:.6g}{hint}",
                number,
                rnd,
            )
        if not _close(x["epsilon_round"], float(alone[i]), tolerance):
            add(
                "mismatch",
                f"client {client}, round {rnd}: reported round ε = {x['epsilon_round']:.6g}, "
                f"recomputed {alone[i]:.6g}",
                number,
                rnd,
            )
        if unsampled is not None and (
            x["epsilon_unsampled"] is None
            or not _close(x["epsilon_unsampled"], float(unsampled[i]), tolerance)
        ):
            add(
                "mismatch",
                f"client {client}, round {rnd}: reported ε without sampling = "
                f"{x['epsilon_unsampled']}, recomputed {unsampled[i]:.6g}",
                number,
                rnd,
            )
        if budget is not None and max(x["epsilon"], float(cumulative[i])) > budget * (1 + 1e-9):
            add(
                "breach",
                f"client {client}, round {rnd}: ε = {max(x['epsilon'], cumulative[i]):.4g} "
                f"exceeds the budget {budget:g}",
                number,
                rnd,
            )

    final_rdp = float(cumulative[-1])
    delta = float(deltas[-1])
    final, used_accountant = final_rdp, "rdp"
    if accountant == "prv":
        mechanisms = tuple(
            (float(s), float(q), int(n)) for s, q, n in zip(sigma, rate, steps, strict=True)
        )
        final, used_accountant = _prv_cached(mechanisms, delta)
        if _last_reported(e) < final - tolerance * max(1.0, final):
            add(
                "mismatch",
                f"client {client}: reported ε = {_last_reported(e):.6g} is below the PRV "
                f"accountant's {final:.6g}",
                *_at(lines, -1),
            )
    audit = ClientAudit(
        client=client,
        rounds=int(trained.sum()),
        lines=len(lines),
        epsilon_reported=_last_reported(e),
        epsilon=final,
        epsilon_rdp=final_rdp,
        epsilon_unsampled=None if unsampled is None else float(unsampled[-1]),
        delta=delta,
        accountant=used_accountant,
        budget_left=None if budget is None else budget - max(final_rdp, _last_reported(e)),
        curve_rounds=[x["round"] for x in e],
        curve_epsilon=[float(v) for v in cumulative],
    )
    return audit, found


def _last_reported(entries: list[dict[str, Any]]) -> float:
    return float(entries[-1]["epsilon"])


def _at(lines: list[tuple[int, dict[str, Any]]], i: int) -> tuple[int, int]:
    number, entry = lines[i]
    return number, entry["round"]


@lru_cache(maxsize=1024)
def _prv_cached(
    mechanisms: tuple[tuple[float, float, int], ...], delta: float
) -> tuple[float, str]:
    """Clients with the same history share one (slow) PRV computation."""
    return prv_epsilon(list(mechanisms), delta)
