"""What an audit finds: findings, one line per client, and the report with its guarantee."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

TOLERANCE = 0.01  # relative (absolute below ε = 1)
ERRORS = ("malformed", "missing", "mismatch", "breach", "delta", "chain", "randomness", "noise")
ACCOUNTANTS = ("rdp", "prv")
MAX_FINDINGS_PER_CLIENT = 5


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
    checks: list[str] = field(default_factory=list)  # implementation facts verified
    epsilon_across_silos: float | None = None  # partition=scenario: a user in every silo
    delta_across_silos: float | None = None  # the δ it holds at

    @property
    def epsilon_unsampled(self) -> float:
        """Central DP: the worst client's ε for anyone who knows which clients took part."""
        return max((c.epsilon_unsampled or 0.0 for c in self.clients), default=0.0)

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
            unsampled = self.epsilon_unsampled
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
                f"{self.unit} of the training data, against anyone who sees the model, over "
                f"{w.lines} ledger lines (its epochs and any popularity histogram; recomputed "
                f"with {w.accountant})."
            )
        text = (
            f"Every client's released updates, and every model built from them, are at worst "
            f"{eps}-differentially private with respect to any one {self.unit} of that "
            f"client's data, against the server, the other clients and anyone who sees the "
            f"model (client {w.client}, {w.rounds} rounds trained; recomputed with "
            f"{w.accountant})."
        )
        if self.epsilon_across_silos is not None:
            text += (
                f" The silos split users by scenario, so one user's data can sit in every "
                f"silo: composed over all {len(self.clients)} silos, a user's ε is at most "
                f"{self.epsilon_across_silos:.3g} at δ = {self.delta_across_silos:.1e}."
            )
        return text

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("clients", "findings")}
        out["ok"] = self.ok
        out["guarantee"] = self.guarantee()
        out["worst"] = None if self.worst is None else self.worst.client
        out["clients"] = [asdict(c) for c in self.clients]
        out["findings"] = [asdict(f) for f in self.findings]
        return out
