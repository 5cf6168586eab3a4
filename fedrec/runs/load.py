"""Loading a run back: its config, its split and its model with the saved state.

What ``fedrec evaluate --recompute`` starts from, and what serving will.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from fedrec.config import Config
from fedrec.data.loading import prepare_split
from fedrec.data.split import Split
from fedrec.device import pick_device
from fedrec.evaluation.baselines import ZeroShotVectors, zero_shot_vectors
from fedrec.models.catalog_model import CatalogModel, build_catalog_model
from fedrec.models.state import load_trainable_state
from fedrec.runs.rundir import RunDir


@dataclass
class LoadedRun:
    """A run directory's config, split and catalog model (its saved state loaded)."""

    run: RunDir
    cfg: Config
    split: Split
    cm: CatalogModel
    zero_shot: ZeroShotVectors  # read before the saved state was loaded


def load_run(
    run: RunDir,
    *,
    backbone: tuple[torch.nn.Module, Any] | None = None,
    progress: bool = False,
) -> LoadedRun:
    """Rebuild the split and model from the run's config and load its saved state."""
    cfg = run.require().read_config(lenient=True)
    device = pick_device(cfg.train.device, cfg.train.threads)
    split = prepare_split(cfg, progress=progress)
    cm = build_catalog_model(
        split, cfg.model, cfg.data, device, backbone=backbone, progress=progress
    )
    zs = zero_shot_vectors(cm, split)
    load_trainable_state(cm.model, run.load_state())
    cm.mark_stale()
    return LoadedRun(run, cfg, split, cm, zs)
