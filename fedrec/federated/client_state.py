"""A client's privacy state on disk, so that its ε survives restarts.

In its state directory, per client (written atomically and fsynced, :mod:`fedrec.files`):

- ``partition-<id>-privacy.json``: the accountant's history of ``(σ, q, steps)``;
- ``partition-<id>-last-reply.safetensors``: under local DP, the noised update it last
  sent, with the run id and round it answered. A round asked again (a message
  delivered again after a crash, or a run resumed after a SuperLink restart) gets
  this update back: the client neither trains nor spends twice for one round;
- ``partition-<id>-last-popularity.safetensors``: the same for its noised popularity
  histogram (round 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save

from fedrec.files import atomic_write_bytes, atomic_write_json

History = list[tuple[float, float, int]]


#: Where a simulation's nodes keep their state, in the run directory.
CLIENT_STATE = "client-state"


def state_file(directory: str | Path, partition_id: int) -> Path:
    return Path(directory) / f"partition-{partition_id}-privacy.json"


def simulated_state_dir(configured: str, run_dir: Path) -> Path:
    """Where simulated nodes keep their state: ``client-state-dir``, else the run's own
    ``client-state/``."""
    return Path(configured) if configured else (run_dir / CLIENT_STATE).resolve()


def state_files(directory: str | Path) -> list[tuple[int, Path]]:
    """Every client's accountant file in ``directory``, with its partition id, in order."""
    found = Path(directory).glob("partition-*-privacy.json")
    return sorted((int(path.name.split("-")[1]), path) for path in found)


def load_history(path: Path) -> History | None:
    """The saved accountant history, or None if there is none yet."""
    if not path.exists():
        return None
    return [tuple(h) for h in json.loads(path.read_text())["accountant"]]  # type: ignore[misc]


def save_history(path: Path, history: History) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"accountant": history}, indent=None)


def reply_file(directory: str | Path, partition_id: int, kind: str = "reply") -> Path:
    """Where a client keeps what it last released: its update (``reply``) or its
    popularity histogram (``popularity``)."""
    return Path(directory) / f"partition-{partition_id}-last-{kind}.safetensors"


def save_reply(path: Path, run_id: str, server_round: int, state: dict[str, torch.Tensor]) -> None:
    """Keep the update sent for ``(run_id, server_round)`` (after its spend is saved)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    meta = {"run_id": run_id, "round": str(server_round)}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def saved_reply(path: Path, run_id: str, server_round: int) -> dict[str, torch.Tensor] | None:
    """The update already sent for ``(run_id, server_round)``, or None."""
    if not run_id or not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            if meta.get("run_id") != run_id or meta.get("round") != str(server_round):
                return None
            return {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (OSError, ValueError, RuntimeError):
        return None  # unreadable: train again (the accountant counts it)
