"""The centralized reference run: data -> split -> train -> evaluate beside baselines.

This is what ``fedrec train`` does. Federated runs reuse every piece (data,
split, model, ``train_epoch``, the evaluation harness, the summary builder);
only the loop differs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from fedrec.config import Config
from fedrec.data.loading import prepare_split
from fedrec.device import pick_device
from fedrec.errors import ConfigError
from fedrec.evaluation.baselines import popularity_validation, zero_shot_vectors
from fedrec.evaluation.harness import evaluate_cases
from fedrec.models.catalog_model import CatalogModel, build_catalog_model
from fedrec.models.state import load_trainable_state, trainable_state
from fedrec.plots import plot_curves
from fedrec.privacy import NOT_PRIVATE
from fedrec.privacy.dp_sgd import DPSGDTrainer, dp_rows
from fedrec.privacy.histogram import noised, popularity_histogram
from fedrec.privacy.ledger import LedgerEntry, PrivacyLedger, PrivacySpend
from fedrec.privacy.mechanism import LocalMechanism, count_records, resolve_local_mechanism
from fedrec.runs.load import load_run
from fedrec.runs.rundir import RunDir
from fedrec.runs.summary import NO_PRIVACY, build_summary, evaluate_model, plot_click_curves
from fedrec.training.rows import build_rows
from fedrec.training.trainer import EpochStats, make_optimizer, train_epoch

log = logging.getLogger(__name__)


@dataclass
class _Progress:
    """Where early stopping stands, and what the epochs added up to."""

    best_ndcg: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    curve: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    examples: int = 0


class _Epochs:
    """One epoch at a time, non-private (AdamW) or DP-SGD, on the whole training set."""

    def __init__(
        self, cm: CatalogModel, train: pd.DataFrame, cfg: Config, rng: np.random.Generator
    ) -> None:
        self.cm, self.cfg, self.rng = cm, cfg, rng
        self.rows = build_rows(train, cfg.data.max_history)
        self.dp: DPSGDTrainer | None = None
        self.mechanism: LocalMechanism | None = None
        if cfg.privacy.privacy_mode == "local":
            # One data holder: the population is its own records.
            records = count_records(train, cfg.train.privacy_unit, cfg.privacy.dp_window)
            self.mechanism = resolve_local_mechanism(
                cfg, population=records, records_per_client=records, epochs=cfg.train.epochs
            )
            self.rows = dp_rows(train, cfg.data.max_history, self.mechanism)
            self.dp = DPSGDTrainer(
                cm,
                self.rows,
                cfg.train,
                cfg.privacy,
                self.mechanism,
                rng=rng,
                accountant_history=self.mechanism.before_training(),
            )
        self.optimizer = make_optimizer(cm, cfg.train) if self.dp is None else None
        if cfg.model.popularity_prior and cm.model.item_bias is not None:
            self._popularity_prior(train)

    def _popularity_prior(self, train: pd.DataFrame) -> None:
        """The starting item bias from the training set's popularity (noised under DP, its
        spend already in the trainer's accountant)."""
        cfg, mechanism = self.cfg, self.mechanism
        unit = mechanism.unit if mechanism is not None else cfg.train.privacy_unit
        counts = popularity_histogram(train, self.cm.n_items, unit, cfg.privacy.dp_window)
        if mechanism is not None and self.dp is not None:
            counts = noised(counts, mechanism.popularity_noise, self.dp.random)
        self.cm.model.set_popularity_prior(torch.as_tensor(counts, dtype=torch.float32))
        self.cm.mark_stale()

    def histogram_entry(self) -> LedgerEntry | None:
        """The ledger line (epoch 0) of the popularity histogram, under DP."""
        m = self.mechanism
        if m is None or not m.popularity_noise or self.dp is None:
            return None
        first = m.before_training()
        spend = PrivacySpend(
            noise_multiplier=m.popularity_noise,
            max_grad_norm=1.0,
            sample_rate=1.0,
            delta=m.delta,
            records=m.population,
            steps=1,
            epsilon=m.epsilon(first),
            epsilon_round=m.epsilon(first),
        )
        return spend.entry(0, 0, self.cfg.privacy.privacy_mode, m.unit, m.randomness)

    def run(self, epoch: int, progress: bool) -> EpochStats:
        if self.dp is not None:
            return self.dp.epoch(progress=progress, desc=f"DP-SGD epoch {epoch}")
        assert self.optimizer is not None
        return train_epoch(
            self.cm,
            self.rows,
            self.optimizer,
            self.cfg.train,
            self.rng,
            progress=progress,
            desc=f"epoch {epoch}",
        )


def train_centralized(
    cfg: Config,
    run: RunDir,
    *,
    progress: bool = True,
    backbone: tuple[torch.nn.Module, Any] | None = None,
) -> dict[str, Any]:
    """Train centrally with early stopping on validation NDCG; write the run directory.

    With ``privacy-mode = local`` training is DP-SGD and the final epoch's model is
    kept: choosing an epoch on the (private) validation interactions would spend
    privacy the accountant does not see.
    """
    t0 = time.perf_counter()
    if cfg.privacy.privacy_mode == "central":
        raise ConfigError(
            "privacy-mode=central is client-level DP of a federation: run it with "
            "'fedrec simulate' or 'flwr run'. For a centralized DP-SGD run use privacy-mode=local."
        )
    if cfg.privacy.privacy_mode == "off":
        log.warning(NOT_PRIVATE)
    torch.manual_seed(cfg.train.seed)
    rng = np.random.default_rng(cfg.train.seed)
    device = pick_device(cfg.train.device, cfg.train.threads)
    split = prepare_split(cfg, progress=progress)
    run.write_kind("centralized")
    run.write_config(cfg)
    cm = build_catalog_model(
        split, cfg.model, cfg.data, device, backbone=backbone, progress=progress
    )
    zs = zero_shot_vectors(cm, split)
    epochs = _Epochs(cm, split.train, cfg, rng)
    state = _train(cfg, run, cm, split, zs.items, epochs, progress)

    load_trainable_state(cm.model, state.best_state)
    cm.mark_stale()
    run.save_state(state.best_state)
    key = f"ndcg@{cfg.eval.k}"
    summary = build_summary(
        cm,
        split,
        cfg,
        zs,
        validation={"best_epoch": state.best_epoch, key: state.best_ndcg, "curve": state.curve},
        run=(
            "training",
            {
                "mode": "centralized",
                "epochs_run": len(state.curve),
                "examples": state.examples,
                "train_seconds": state.train_seconds,
                "examples_per_second": state.examples / max(state.train_seconds, 1e-9),
                "wall_seconds": time.perf_counter() - t0,
                "device": str(device),
            },
        ),
        privacy=epochs.dp.report().as_dict() if epochs.dp is not None else NO_PRIVACY,
        progress=progress,
    )
    run.write_summary(summary)
    plot_click_curves(summary, run.path, cfg.eval.k)
    plot_curves(
        run.path / "validation.png",
        range(1, len(state.curve) + 1),
        {f"model val {key}": state.curve},
        xlabel="epoch",
        ylabel=key,
        title="Validation NDCG over epochs",
        references={f"popularity val {key}": popularity_validation(split, cfg, zs)},
    )
    return summary


def _train(
    cfg: Config,
    run: RunDir,
    cm: CatalogModel,
    split: Any,
    item_vectors: np.ndarray,
    epochs: _Epochs,
    progress: bool,
) -> _Progress:
    """The epochs, each validated and logged (a ledger line per DP epoch); early stopping
    without DP, the last epoch kept with it (selection on private data would leak)."""
    key = f"ndcg@{cfg.eval.k}"
    ledger = PrivacyLedger(run.path)
    state = _Progress(best_state=trainable_state(cm.model))
    dp = epochs.dp
    if (first := epochs.histogram_entry()) is not None:
        ledger.append(first)
    for epoch in range(1, cfg.train.epochs + 1):
        stats = epochs.run(epoch, progress)
        state.train_seconds += stats.seconds
        state.examples += stats.examples
        val = evaluate_cases(
            cm.score_all,
            split.valid,
            split,
            k=cfg.eval.k,
            item_vectors=item_vectors,
            seed=cfg.train.seed,
        )
        state.curve.append(val[key])
        record = {
            "epoch": epoch,
            "train_loss": stats.loss,
            "examples": stats.examples,
            "seconds": stats.seconds,
            **{f"val_{m}": v for m, v in val.items()},
        }
        if dp is not None:
            record["epsilon"] = dp.report().epsilon
            # One ledger line per epoch: `fedrec audit` reads centralized DP runs too.
            ledger.append(dp.ledger_entry(epoch, 0, dp.steps_per_epoch))
        run.append_metrics(record)
        if progress:
            log.info(
                "epoch %d loss %.4f val %s %.4f (%.1fs)",
                epoch,
                stats.loss,
                key,
                val[key],
                stats.seconds,
            )
        if dp is not None or val[key] > state.best_ndcg:
            state.best_ndcg, state.best_epoch = val[key], epoch
            state.best_state = trainable_state(cm.model)
        elif cfg.train.patience and epoch - state.best_epoch >= cfg.train.patience:
            if progress:
                log.info("early stop: no validation gain for %d epochs", cfg.train.patience)
            break
    return state


def evaluate_run(
    run: RunDir, *, backbone: tuple[torch.nn.Module, Any] | None = None, progress: bool = False
) -> dict[str, Any]:
    """Re-evaluate a run directory's saved model and the baselines (same split, rebuilt
    from the run's config)."""
    loaded = load_run(run, backbone=backbone, progress=progress)
    summary, _ = evaluate_model(
        loaded.cm, loaded.split, loaded.cfg, loaded.zero_shot, progress=progress
    )
    return summary
