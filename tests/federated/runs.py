"""Helpers for tests that run ``fedrec`` as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from fedrec.runs.rundir import RunDir


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fedrec", *args], capture_output=True, text=True, timeout=600
    )


def sets(flat: dict[str, Any]) -> list[str]:
    out = []
    for key, value in flat.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out += ["--set", f"{key}={text}"]
    return out


def simulate(path: Path, flat: dict[str, Any], **overrides: Any) -> tuple[dict[str, Any], RunDir]:
    proc = cli("simulate", "--quiet", "--overwrite", "--out", str(path), *sets(flat | overrides))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "deprecated" not in (proc.stdout + proc.stderr).lower(), proc.stderr[-3000:]
    run = RunDir(path)
    return run.read_summary(), run
