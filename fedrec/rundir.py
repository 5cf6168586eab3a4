"""One run, one directory: config, metrics, trainable state, summary, plots.

Layout::

    RUN_DIR/config.toml       the resolved configuration (flat kebab-case keys)
    RUN_DIR/metrics.jsonl     one JSON record per epoch / round, appended
    RUN_DIR/state.safetensors the trainable state (LoRA + heads) of the best model
    RUN_DIR/summary.json      final metrics of the model and the baselines
    RUN_DIR/*.png             plots

Files are written to a temporary name and renamed, so an interrupted run never
leaves a half-written summary or state behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fedrec.config import Config, build_config, load_toml
from fedrec.errors import FedrecError

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
STATE = "state.safetensors"
SUMMARY = "summary.json"
#: Everything a run writes, removed by --overwrite (and nothing else in the folder).
RUN_FILES = (
    CONFIG,
    METRICS,
    STATE,
    SUMMARY,
    "checkpoint.safetensors",
    "checkpoint.json",
    "privacy_ledger.jsonl",
    "client-state",
    "validation.png",
    "rounds.png",
)


class RunDir:
    """Reads and writes the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def create(self, *, overwrite: bool = False) -> RunDir:
        """Make the directory for a new run; an existing run is kept unless ``overwrite``."""
        if (self.path / CONFIG).exists() and not overwrite:
            state = "a finished run" if (self.path / SUMMARY).exists() else "an unfinished run"
            raise FedrecError(
                f"{self.path} already holds {state}: choose another --out, continue it with "
                "'fedrec simulate --resume', or pass --overwrite to replace it."
            )
        self.path.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for name in RUN_FILES:
                target = self.path / name
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
        return self

    def require(self) -> RunDir:
        if not (self.path / CONFIG).is_file():
            raise FedrecError(
                f"{self.path} is not a run directory (no {CONFIG}): pass the --out folder of "
                "a 'fedrec train' or 'fedrec simulate' run."
            )
        return self

    # -- config ------------------------------------------------------------------------
    def write_config(self, cfg: Config, extra: dict[str, Any] | None = None) -> None:
        flat = cfg.to_flat() | (extra or {})
        lines = ["# Resolved configuration of this run (fedrec).", "[fedrec]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in flat.items()]
        _atomic_write(self.path / CONFIG, "\n".join(lines) + "\n")

    def read_config(self, ignore: tuple[str, ...] = ()) -> Config:
        return build_config(load_toml(self.path / CONFIG), ignore=ignore)

    def read_raw_config(self) -> dict[str, Any]:
        return load_toml(self.path / CONFIG)

    # -- metrics -----------------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.path / METRICS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_clean(record)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / METRICS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    # -- state -------------------------------------------------------------------------
    def save_state(self, state: dict[str, torch.Tensor], name: str = STATE) -> None:
        tmp = self.path / (name + ".tmp")
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        os.replace(tmp, self.path / name)

    def load_state(self, name: str = STATE) -> dict[str, torch.Tensor]:
        path = self.path / name
        if not path.is_file():
            raise FedrecError(f"{path} is missing: the run did not finish saving its model.")
        return load_file(str(path))

    # -- summary -----------------------------------------------------------------------
    def write_summary(self, summary: dict[str, Any]) -> None:
        _atomic_write(self.path / SUMMARY, json.dumps(_clean(summary), indent=2) + "\n")

    def read_summary(self) -> dict[str, Any]:
        path = self.path / SUMMARY
        if not path.is_file():
            raise FedrecError(f"{path} is missing: the run has not finished.")
        return json.loads(path.read_text(encoding="utf-8"))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def _clean(obj: Any) -> Any:
    """JSON has no NaN: write undefined metrics as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return _clean(obj.item())
    return obj
