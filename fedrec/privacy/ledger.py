"""The privacy ledger: one JSON line per client per round, append-only.

Every privacy spend (or a declined round) is one line in
``RUN_DIR/privacy_ledger.jsonl`` with the round, the client, the mode and unit,
the mechanism parameters (noise multiplier, clipping norm, sample rate, steps),
δ, the number of privacy units N behind the sample rate (δ must stay below
1/N), the ε the client reports for the round alone and cumulatively, the
accountant, and whether the client trained.

Under central DP every client has a line every round (the release of a noised
aggregate spends privacy of every client, sampled or not, through the sampling
amplification); ``trained`` says whether its update was in the aggregate, and
``epsilon_unsampled`` is the ε against anyone who knows who took part (no
amplification, only the rounds it trained). Under local DP that field is null.

Each line is written whole, flushed and fsynced before the round goes on, so a
crash never leaves a half-written or lost record, and a resumed run appends
after what is there.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedrec.files import append_line
from fedrec.privacy.calibration import ACCOUNTANT

LEDGER = "privacy_ledger.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    """One client's privacy spend in one round (or one epoch of a centralized run)."""

    round: int
    client: int
    mode: str  # local | central
    unit: str  # the privacy unit: interaction, user or client
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    delta: float
    records: int  # N, the privacy units behind the sample rate
    epsilon_round: float  # ε of this line's mechanism alone
    epsilon: float  # cumulative ε after this line, as the client's accountant reports it
    epsilon_unsampled: float | None  # central DP: ε against who knows the sampling
    accountant: str
    trained: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PrivacySpend:
    """A local-DP client's mechanism and ε after one round (what becomes its ledger line)."""

    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    delta: float
    records: int
    steps: int
    epsilon: float  # cumulative, by the client's accountant
    epsilon_round: float  # this round's steps alone

    def entry(self, server_round: int, client: int, mode: str, unit: str) -> LedgerEntry:
        """The ledger line of this spend (a round of 0 steps is a declined round)."""
        return LedgerEntry(
            round=server_round,
            client=client,
            mode=mode,
            unit=unit,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.max_grad_norm,
            sample_rate=self.sample_rate,
            steps=self.steps,
            delta=self.delta,
            records=self.records,
            epsilon_round=self.epsilon_round,
            epsilon=self.epsilon,
            epsilon_unsampled=None,
            accountant=ACCOUNTANT,
            trained=self.steps > 0,
        )

    def report(self) -> dict[str, float]:
        return {k: float(v) for k, v in dataclasses.asdict(self).items()}


#: The fields of every ledger line, in order.
FIELDS = tuple(f.name for f in dataclasses.fields(LedgerEntry))


class PrivacyLedger:
    """Append-only JSONL ledger of privacy spends."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LEDGER

    def append(self, entry: LedgerEntry) -> None:
        """Write one whole line, flushed and fsynced before anything goes on."""
        append_line(self.path, json.dumps(entry.as_dict()))

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x]
