"""The ``fedrec simulate`` command line the simulation benchmarks run."""

from __future__ import annotations

import sys
from pathlib import Path

SIMULATIONS = Path(__file__).resolve().parents[1] / "simulations"


def simulate_command(out: Path, config: str, sets: list[str]) -> list[str]:
    """``fedrec simulate`` of ``simulations/<config>.toml`` into ``out`` with ``--set``s."""
    return [
        sys.executable,
        "-m",
        "fedrec",
        "simulate",
        "--quiet",
        "--overwrite",
        "--out",
        str(out),
        "--config",
        str(SIMULATIONS / f"{config}.toml"),
        *[a for s in sets for a in ("--set", s)],
    ]
