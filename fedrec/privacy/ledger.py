"""The privacy ledger: one JSON line per client per round, append-only and hash-chained.

Every privacy spend (or a declined round) is one line in
``RUN_DIR/privacy_ledger.jsonl`` with the round, the client, the mode and unit,
the mechanism parameters (noise multiplier, clipping norm, sample rate, steps),
δ, the number N of privacy units of the population δ is set against (δ must
stay below 1/N), the ε for the round alone and cumulatively, the accountant,
where the DP randomness came from, and whether the client trained.

Under central DP every client has a line every round (the release of a noised
aggregate spends privacy of every client, sampled or not, through the sampling
amplification); ``trained`` says whether its update was in the aggregate, and
``epsilon_unsampled`` is the ε against anyone who knows who took part (no
amplification, only the rounds it trained). Under local DP that field is null.

Each line carries ``prev``, the SHA-256 of the line before it (empty for the
first), so a line removed, reordered or rewritten breaks the chain; the run's
checkpoints record the line count and the last line's hash (:attr:`PrivacyLedger.head`),
so lines cut from the end are found too. Each line is written whole, flushed
and fsynced before the round goes on, so a crash never leaves a half-written
or lost record, and a resumed run appends after what is there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedrec.files import append_lines
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
    records: int  # N, the privacy units of the population δ is set against
    epsilon_round: float  # ε of this line's mechanism alone
    epsilon: float  # cumulative ε after this line
    epsilon_unsampled: float | None  # central DP: ε against who knows the sampling
    accountant: str
    trained: bool
    randomness: str  # where the noise and sampling came from: os | chacha20
    prev: str = ""  # SHA-256 of the previous line; set by the ledger

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The fields of every ledger line, in order.
FIELDS = tuple(f.name for f in dataclasses.fields(LedgerEntry))


def line_hash(line: str) -> str:
    """The chain's hash of one ledger line (its text, without the line end)."""
    return hashlib.sha256(line.rstrip("\n").encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PrivacySpend:
    """A local-DP client's mechanism and ε after one round (what becomes its ledger line)."""

    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    delta: float
    records: int
    steps: int
    epsilon: float  # cumulative
    epsilon_round: float  # this round's steps alone

    def entry(
        self, server_round: int, client: int, mode: str, unit: str, randomness: str
    ) -> LedgerEntry:
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
            randomness=randomness,
        )


class PrivacyLedger:
    """Append-only, hash-chained JSONL ledger of privacy spends."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LEDGER
        lines = self._lines()
        self.count = len(lines)
        self.head = line_hash(lines[-1]) if lines else ""

    def _lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return [x for x in self.path.read_text(encoding="utf-8").splitlines() if x]

    def append(self, entry: LedgerEntry) -> None:
        """Write one whole line, chained to the last, fsynced before anything goes on."""
        self.extend([entry])

    def extend(self, entries: list[LedgerEntry]) -> None:
        """Write whole lines, each chained to the one before, with one fsync (a release's
        lines for thousands of clients at once)."""
        lines, head = [], self.head
        for entry in entries:
            lines.append(json.dumps({**entry.as_dict(), "prev": head}))
            head = line_hash(lines[-1])
        if not lines:
            return
        append_lines(self.path, lines)
        self.count += len(lines)
        self.head = head

    def read(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self._lines()]
