"""Reading a ledger line by line, and what the rest of the run directory says it must hold."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fedrec.audit.results import Finding
from fedrec.errors import FedrecError
from fedrec.privacy.ledger import FIELDS, LEDGER, line_hash
from fedrec.runs.rundir import RunDir

_NUMBER = (int, float)


def check_line(entry: Any) -> str | None:
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
        "round": integer("round", 0),
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
        "randomness": isinstance(entry["randomness"], str),
        "prev": isinstance(entry["prev"], str),
    }
    bad = [k for k, good in checks.items() if not good]
    return f"has an invalid {', '.join(bad)}" if bad else None


def read_ledger(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[Finding]]:
    """Well-formed lines (with their line numbers) and findings for the others, and for
    every break of the hash chain (a line removed, reordered or rewritten)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    entries: list[tuple[int, dict[str, Any]]] = []
    findings: list[Finding] = []
    raw = text.split("\n")
    torn = raw[-1] != ""  # the file must end with a newline: a torn last write does not
    previous = ""
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            continue
        chained = _chain_finding(line, previous, number)
        if chained is not None:
            findings.append(chained)
        previous = line_hash(line)
        why = None
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            why = f"is not valid JSON ({err.msg})"
            entry = None
        else:
            why = check_line(entry)
        if why is None and torn and number == len(raw):
            why = "has no line end (an interrupted write)"
        if why is not None:
            findings.append(Finding("malformed", f"ledger line {number} {why}", line=number))
        else:
            entries.append((number, entry))
    return entries, findings


def _chain_finding(line: str, previous: str, number: int) -> Finding | None:
    try:
        prev = json.loads(line).get("prev")
    except (json.JSONDecodeError, AttributeError):
        return None  # reported as malformed
    if prev == previous:
        return None
    return Finding(
        "chain",
        f"ledger line {number} does not follow the line before it (its prev hash is "
        f"{str(prev)[:12]}..., the line before hashes to {previous[:12] or 'nothing'}...): a "
        "line was removed, reordered or rewritten",
        line=number,
    )


def checkpoint_findings(run_dir: Path) -> list[Finding]:
    """The last checkpoint's record of the ledger (line count and last hash) against the
    ledger: lines cut from the end, or a ledger rewritten after the checkpoint."""
    path = run_dir / "checkpoint.json"
    if not path.is_file():
        return []
    try:
        info = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        count, head = int(info["ledger_lines"]), str(info["ledger_head"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return []  # a checkpoint of a run without a ledger record
    lines = [
        x
        for x in (run_dir / LEDGER).read_text(encoding="utf-8", errors="replace").splitlines()
        if x
    ]
    if len(lines) < count:
        return [
            Finding(
                "chain",
                f"the checkpoint after round {info.get('round')} recorded {count} ledger lines; "
                f"the ledger holds {len(lines)}: lines were cut from its end",
            )
        ]
    if count and line_hash(lines[count - 1]) != head:
        return [
            Finding(
                "chain",
                f"ledger line {count} is not the one the checkpoint recorded: the ledger was "
                "rewritten after it",
                line=count,
            )
        ]
    return []


def expected_lines(run_dir: Path) -> tuple[dict[int, set[int]], bool]:
    """Round (or epoch) → the clients the run log says spent privacy; and whether the run
    is centralized (``fedrec train``: one line per epoch, client 0), as its ``run.json``
    says."""
    centralized = RunDir(run_dir).read_kind() == "centralized"
    path = run_dir / "metrics.jsonl"
    expected: dict[int, set[int]] = {}
    if not path.is_file():
        return expected, centralized
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if centralized and "epoch" in record and "epsilon" in record:
            expected[int(record["epoch"])] = {0}
        elif "ledger_clients" in record and int(record.get("round", 0)) >= 1:
            expected[int(record["round"])] = {int(c) for c in record["ledger_clients"]}
    return expected, centralized


def logged_epsilons(run_dir: Path) -> dict[int, float]:
    """A centralized run's ε after each epoch, as its run log recorded it while training."""
    path = run_dir / "metrics.jsonl"
    out: dict[int, float] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "epoch" in record and "epsilon" in record:
            try:
                out[int(record["epoch"])] = float(record["epsilon"])
            except (TypeError, ValueError):
                continue
    return out


def run_settings(run_dir: Path) -> dict[str, Any]:
    """The run's flat config keys as written (empty if unreadable)."""
    path = run_dir / "config.toml"
    if not path.is_file():
        return {}
    from fedrec.config import load_toml

    try:
        return load_toml(path)
    except (FedrecError, ValueError):
        return {}
