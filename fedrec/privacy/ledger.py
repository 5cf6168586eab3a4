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

import json
import os
from pathlib import Path
from typing import Any

LEDGER = "privacy_ledger.jsonl"

FIELDS = (
    "round",
    "client",
    "mode",
    "unit",
    "noise_multiplier",
    "max_grad_norm",
    "sample_rate",
    "steps",
    "delta",
    "records",
    "epsilon_round",
    "epsilon",
    "epsilon_unsampled",
    "accountant",
    "trained",
)


class PrivacyLedger:
    """Append-only JSONL ledger of privacy spends."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LEDGER

    def append(self, entry: dict[str, Any]) -> None:
        missing = [f for f in FIELDS if f not in entry]
        if missing:
            raise ValueError(f"ledger entry lacks {missing}")  # a programming error, not user input
        line = json.dumps({f: entry[f] for f in FIELDS}) + "\n"
        # One write of a whole line on an O_APPEND descriptor, then fsync.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x]
