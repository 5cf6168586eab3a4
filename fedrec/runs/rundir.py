"""One run, one directory: config, metrics, trainable state, summary, plots.

Layout::

    RUN_DIR/run.json          what kind of run this is (centralized or federated)
    RUN_DIR/config.toml       the resolved configuration (flat kebab-case keys)
    RUN_DIR/metrics.jsonl     one JSON record per epoch / round, appended
    RUN_DIR/state.safetensors the trainable state (LoRA + heads) of the best model
    RUN_DIR/summary.json      final metrics of the model and the baselines
    RUN_DIR/*.png             plots

Files are written to a temporary name, fsynced and renamed
(:mod:`fedrec.files`), so an interrupted run never leaves a half-written
summary or state behind.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from fedrec.config import Config, build_config, known_keys, load_toml, toml_value
from fedrec.errors import FedrecError
from fedrec.files import (
    append_line,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    json_safe,
)

KIND = "run.json"
KINDS = ("centralized", "federated")
CONFIG = "config.toml"
METRICS = "metrics.jsonl"
STATE = "state.safetensors"
SUMMARY = "summary.json"
#: Everything a run writes, removed by --overwrite (and nothing else in the folder).
RUN_FILES = (
    KIND,
    CONFIG,
    METRICS,
    STATE,
    SUMMARY,
    "checkpoint.safetensors",
    "checkpoint.json",
    "mechanism.json",
    "privacy_ledger.jsonl",
    "client-state",
    "validation.png",
    "rounds.png",
    "cold_users_curve.png",
    "new_to_scenario_curve.png",
)


#: Where ``create(overwrite=True)`` keeps the replaced run until the new one is written.
REPLACED = ".replaced-run"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class RunDir:
    """Reads and writes the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._replacing = False  # create(overwrite=True) set a replaced run aside

    def create(self, *, overwrite: bool = False) -> RunDir:
        """Make the directory for a new run; an existing run is kept unless ``overwrite``."""
        if (self.path / CONFIG).exists() and not overwrite:
            state = "a finished run" if (self.path / SUMMARY).exists() else "an unfinished run"
            go_on = (
                "continue it with 'fedrec simulate --resume', "
                if self.read_kind() == "federated"
                else ""
            )
            raise FedrecError(
                f"{self.path} already holds {state}: choose another --out, {go_on}or pass "
                "--overwrite to replace it."
            )
        if self.path.exists() and not self.path.is_dir():
            raise FedrecError(f"--out {self.path} is a file: choose a folder.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FedrecError(
                f"cannot make the run directory {self.path} ({err.strerror}): choose a folder "
                "you can write to."
            ) from None
        if overwrite:  # moved aside, not deleted: see replacing()
            aside = self.path / REPLACED
            present = [name for name in RUN_FILES if (self.path / name).exists()]
            if aside.is_dir():
                # A replacement killed before it ended left the run it replaced aside: that
                # one is kept, and the half-written one goes.
                for name in present:
                    _remove(self.path / name)
            elif present:
                aside.mkdir()
                for name in present:
                    (self.path / name).rename(aside / name)
            self._replacing = True
        return self

    @contextmanager
    def replacing(self) -> Iterator[RunDir]:
        """Around writing a run over one that ``create(overwrite=True)`` moved aside: the
        old run's files go when the block ends well and come back, whole, when it fails
        (a bad setting found late, an interrupt), so a failed run never costs the old one."""
        aside = self.path / REPLACED
        try:
            yield self
        except BaseException:
            if self._replacing and aside.is_dir():
                for name in RUN_FILES:
                    _remove(self.path / name)
                for old in aside.iterdir():
                    old.rename(self.path / old.name)
                aside.rmdir()
            raise
        if self._replacing:
            shutil.rmtree(aside, ignore_errors=True)

    def require(self) -> RunDir:
        if not (self.path / CONFIG).is_file():
            raise FedrecError(
                f"{self.path} is not a run directory (no {CONFIG}): pass the --out folder of "
                "a 'fedrec train' or 'fedrec simulate' run."
            )
        return self

    # -- kind --------------------------------------------------------------------------
    def write_kind(self, kind: str) -> None:
        """Record what kind of run writes here (the audit and serving read it)."""
        if kind not in KINDS:  # pragma: no cover - a programming error
            raise ValueError(f"unknown run kind {kind!r}")
        atomic_write_json(self.path / KIND, {"kind": kind})

    def read_kind(self) -> str | None:
        """``centralized``, ``federated``, or None for a folder that does not say."""
        path = self.path / KIND
        if not path.is_file():
            return None
        try:
            kind = json.loads(path.read_text(encoding="utf-8")).get("kind")
        except (ValueError, AttributeError) as err:  # not JSON, not UTF-8, not an object
            raise FedrecError(
                f'{path} is damaged ({err}): write it again as {{"kind": "federated"}} '
                'or {"kind": "centralized"}, as the run was made.'
            ) from None
        return kind if kind in KINDS else None

    def rounds_done(self) -> int:
        """The last round a federated run checkpointed (0: none yet)."""
        path = self.path / "checkpoint.json"
        if not path.is_file():
            return 0
        try:
            return int(json.loads(path.read_text(encoding="utf-8"))["round"])
        except (ValueError, KeyError, TypeError) as err:
            raise FedrecError(
                f"{path} is damaged ({err}): the run cannot be resumed from it."
            ) from None

    # -- config ------------------------------------------------------------------------
    def write_config(self, cfg: Config) -> None:
        lines = ["# Resolved configuration of this run (fedrec).", "[fedrec]"]
        lines += [f"{key} = {toml_value(value)}" for key, value in cfg.to_flat().items()]
        atomic_write_text(self.path / CONFIG, "\n".join(lines) + "\n")

    def read_config(self, *, lenient: bool = False) -> Config:
        """The run's config; ``lenient`` skips keys this version does not know (an older
        or newer run read back for evaluation)."""
        raw = self.read_raw_config()
        ignore = [k for k in raw if k not in known_keys()] if lenient else []
        return build_config(raw, ignore=ignore)

    def read_raw_config(self) -> dict[str, Any]:
        return load_toml(self.path / CONFIG)

    # -- metrics -----------------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> None:
        append_line(self.path / METRICS, json.dumps(json_safe(record)))

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / METRICS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    # -- state -------------------------------------------------------------------------
    def save_state(self, state: dict[str, torch.Tensor], name: str = STATE) -> None:
        atomic_write_bytes(self.path / name, save({k: v.contiguous() for k, v in state.items()}))

    def load_state(self, name: str = STATE) -> dict[str, torch.Tensor]:
        path = self.path / name
        if not path.is_file():
            raise FedrecError(f"{path} is missing: the run did not finish saving its model.")
        try:
            return load_file(str(path))
        except Exception as err:  # safetensors raises its own error for a cut or bad file
            raise FedrecError(
                f"{path} cannot be read ({err}): the file is cut short or damaged. Train the "
                "run again (or resume it, for a federated run with a checkpoint)."
            ) from None

    # -- summary -----------------------------------------------------------------------
    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.path / SUMMARY, summary)

    def read_summary(self) -> dict[str, Any]:
        path = self.path / SUMMARY
        if not path.is_file():
            raise FedrecError(f"{path} is missing: the run has not finished.")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise FedrecError(
                f"{path} is damaged ({err}): 'fedrec evaluate --recompute' scores the saved "
                "model again."
            ) from None
