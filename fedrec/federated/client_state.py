"""A client's privacy accountant on disk, so that its ε survives restarts.

One JSON file per client (``partition-<id>-privacy.json``) in its state
directory, holding the accountant's history of ``(σ, q, steps)`` mechanisms;
written atomically and fsynced (:mod:`fedrec.files`).
"""

from __future__ import annotations

import json
from pathlib import Path

from fedrec.files import atomic_write_json

History = list[tuple[float, float, int]]


def state_file(directory: str | Path, partition_id: int) -> Path:
    return Path(directory) / f"partition-{partition_id}-privacy.json"


def load_history(path: Path) -> History | None:
    """The saved accountant history, or None if there is none yet."""
    if not path.exists():
        return None
    return [tuple(h) for h in json.loads(path.read_text())["accountant"]]  # type: ignore[misc]


def save_history(path: Path, history: History) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"accountant": history}, indent=None)
