"""The centralized reference run: data -> split -> train -> evaluate beside baselines.

This is what ``fedrec train`` does. Federated runs reuse every piece (data,
split, model, ``train_epoch``, the evaluation harness); only the loop differs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fedrec.baselines import EASE, ItemKNN, Popularity
from fedrec.baselines.zero_shot import ZeroShot
from fedrec.config import Config, split_list
from fedrec.data import Split, load_dataset, split_dataset
from fedrec.device import pick_device
from fedrec.errors import ConfigError
from fedrec.evaluation import Scorer, evaluate_cases, evaluate_split, matrix_scorer, train_matrix
from fedrec.models.backbone import backbone_parameter_bytes
from fedrec.models.catalog_model import CatalogModel, build_catalog_model
from fedrec.models.recommender import load_trainable_state, trainable_state
from fedrec.plots import plot_curves
from fedrec.privacy.dp_sgd import DPSGDTrainer
from fedrec.privacy.ledger import PrivacyLedger
from fedrec.rundir import RunDir
from fedrec.training.rows import build_rows
from fedrec.training.trainer import make_optimizer, train_epoch

log = logging.getLogger(__name__)

NOT_PRIVATE = (
    "differential privacy is OFF: this run gives no formal privacy guarantee for the training data."
)


def prepare_split(cfg: Config, progress: bool = False) -> Split:
    """Load the configured dataset and split it (deterministic by ``seed``)."""
    ds = load_dataset(cfg.data, seed=cfg.train.seed, progress=progress)
    return split_dataset(
        ds,
        cold_item_fraction=cfg.data.cold_item_fraction,
        cold_user_fraction=cfg.data.cold_user_fraction,
        cold_user_history=cfg.data.cold_user_history,
        seed=cfg.train.seed,
    )


@dataclass
class ZeroShotVectors:
    """The untrained backbone's text vectors: the zero-shot baseline and the diversity reference."""

    items: np.ndarray  # [n_items, H]
    profiles: np.ndarray  # [n_users, H], zero rows for users without a profile


def zero_shot_vectors(cm: CatalogModel, split: Split) -> ZeroShotVectors:
    """Read from a freshly built (untrained: LoRA's B is zero) catalog model."""
    cm.ensure_fresh()
    items = cm.item_text.float().cpu().numpy()
    profiles = np.zeros((split.n_users, items.shape[1]), dtype=np.float32)
    if cm.profiles is not None:
        rows = cm.profile_rows.cpu().numpy()
        has = rows >= 0
        profiles[has] = cm.profile_text.float().cpu().numpy()[rows[has]]
    return ZeroShotVectors(items, profiles)


def model_scorer(cm: CatalogModel) -> Scorer:
    return cm.score_all


def run_baselines(
    split: Split, cfg: Config, zs: ZeroShotVectors, progress: bool = False
) -> dict[str, Any]:
    """Every configured baseline through the same harness and split."""
    k, seed = cfg.eval.k, cfg.train.seed
    train = train_matrix(split)
    out: dict[str, Any] = {}
    for name in split_list(cfg.eval.baselines):
        if progress:
            log.info("baseline %s", name)
        scorer: Scorer
        if name == "popularity":
            scorer = matrix_scorer(Popularity().fit(train), split.n_items)
        elif name == "itemknn":
            scorer = matrix_scorer(ItemKNN().fit(train), split.n_items)
        elif name == "ease":
            scorer, l2 = _tuned_ease(split, train, cfg, zs.items)
            out.setdefault("_chosen", {})["ease-l2"] = l2
        else:
            scorer = ZeroShot(zs.items, zs.profiles).score_histories
        out[name] = evaluate_split(scorer, split, k=k, item_vectors=zs.items, seed=seed)
    return out


def _tuned_ease(
    split: Split, train: Any, cfg: Config, item_vectors: np.ndarray
) -> tuple[Scorer, float]:
    """EASE with its l2 picked on validation NDCG (a fair, tuned baseline)."""
    best: tuple[float, float, Scorer] | None = None
    for l2 in (float(v) for v in split_list(cfg.eval.ease_l2)):
        scorer = matrix_scorer(EASE(l2=l2).fit(train), split.n_items)
        ndcg = evaluate_cases(
            scorer, split.valid, split, k=cfg.eval.k, item_vectors=item_vectors, seed=cfg.train.seed
        )[f"ndcg@{cfg.eval.k}"]
        if best is None or ndcg > best[0]:
            best = (ndcg, l2, scorer)
    if best is None:  # pragma: no cover - EvalConfig rejects an empty grid
        raise ConfigError("ease-l2 is empty: give one or more numbers.")
    return best[2], best[1]


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
    private = cfg.privacy.privacy_mode == "local"
    if not private:
        log.warning(NOT_PRIVATE)
    torch.manual_seed(cfg.train.seed)
    rng = np.random.default_rng(cfg.train.seed)
    device = pick_device(cfg.train.device, cfg.train.threads)
    split = prepare_split(cfg, progress=progress)
    run.write_config(cfg)
    cm = build_catalog_model(
        split, cfg.model, cfg.data, device, backbone=backbone, progress=progress
    )
    zs = zero_shot_vectors(cm, split)
    rows = build_rows(split.train, cfg.data.max_history)
    dp = (
        DPSGDTrainer(cm, rows, cfg.train, cfg.privacy, epochs=cfg.train.epochs, rng=rng)
        if private
        else None
    )
    optimizer = make_optimizer(cm, cfg.train) if dp is None else None
    ledger = PrivacyLedger(run.path)
    k = cfg.eval.k
    key = f"ndcg@{k}"

    best_ndcg, best_epoch, best_state = -1.0, 0, trainable_state(cm.model)
    curve: list[float] = []
    train_seconds, examples = 0.0, 0
    for epoch in range(1, cfg.train.epochs + 1):
        if dp is not None:
            stats = dp.epoch(progress=progress, desc=f"DP-SGD epoch {epoch}")
        elif optimizer is not None:
            stats = train_epoch(
                cm, rows, optimizer, cfg.train, rng, progress=progress, desc=f"epoch {epoch}"
            )
        train_seconds += stats.seconds
        examples += stats.examples
        val = evaluate_cases(
            model_scorer(cm), split.valid, split, k=k, item_vectors=zs.items, seed=cfg.train.seed
        )
        curve.append(val[key])
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
        # Under DP the last epoch is kept (selection on private data would leak).
        if dp is not None or val[key] > best_ndcg:
            best_ndcg, best_epoch, best_state = val[key], epoch, trainable_state(cm.model)
        elif cfg.train.patience and epoch - best_epoch >= cfg.train.patience:
            if progress:
                log.info("early stop: no validation gain for %d epochs", cfg.train.patience)
            break

    load_trainable_state(cm.model, best_state)
    cm.mark_stale()
    run.save_state(best_state)
    summary: dict[str, Any] = evaluate_split(
        model_scorer(cm), split, k=k, item_vectors=zs.items, seed=cfg.train.seed
    )
    baselines = run_baselines(split, cfg, zs, progress=progress)
    chosen = baselines.pop("_chosen", {})
    summary["baselines"] = baselines
    summary["validation"] = {"best_epoch": best_epoch, key: best_ndcg, "curve": curve}
    summary["training"] = {
        "mode": "centralized",
        "epochs_run": len(curve),
        "examples": examples,
        "train_seconds": train_seconds,
        "examples_per_second": examples / max(train_seconds, 1e-9),
        "wall_seconds": time.perf_counter() - t0,
        "device": str(device),
    }
    summary["model"] = model_facts(cm)
    summary["privacy"] = (
        dp.report().as_dict() if dp is not None else {"mode": "off", "epsilon": float("inf")}
    )
    summary["data"] = {
        "dataset": cfg.data.dataset,
        **split.stats,
        "items": split.n_items,
        "users": split.n_users,
        "scenarios": split.scenarios,
        **chosen,
    }
    run.write_summary(summary)
    plot_curves(
        run.path / "validation.png",
        range(1, len(curve) + 1),
        {f"model val {key}": curve},
        xlabel="epoch",
        ylabel=key,
        title="Validation NDCG over epochs",
        references={f"popularity val {key}": _popularity_validation(split, cfg, zs)},
    )
    return summary


def _popularity_validation(split: Split, cfg: Config, zs: ZeroShotVectors) -> float:
    """Popularity's validation NDCG: the like-for-like reference for the validation curve."""
    scorer = matrix_scorer(Popularity().fit(train_matrix(split)), split.n_items)
    k = cfg.eval.k
    val = evaluate_cases(
        scorer, split.valid, split, k=k, item_vectors=zs.items, seed=cfg.train.seed
    )
    return val[f"ndcg@{k}"]


def model_facts(cm: CatalogModel) -> dict[str, Any]:
    state = trainable_state(cm.model)
    return {
        "trainable_parameters": int(sum(v.numel() for v in state.values())),
        "trainable_bytes": int(sum(v.numel() * v.element_size() for v in state.values())),
        "backbone_bytes": int(backbone_parameter_bytes(cm.model.encoder.model)),
    }


def evaluate_run(
    run: RunDir, *, backbone: tuple[torch.nn.Module, Any] | None = None, progress: bool = False
) -> dict[str, Any]:
    """Re-evaluate a run directory's saved model and the baselines (same split, rebuilt
    from the run's config)."""
    cfg = run.require().read_config(ignore=tuple(_extra_keys(run)))
    device = pick_device(cfg.train.device, cfg.train.threads)
    split = prepare_split(cfg, progress=progress)
    cm = build_catalog_model(
        split, cfg.model, cfg.data, device, backbone=backbone, progress=progress
    )
    zs = zero_shot_vectors(cm, split)
    load_trainable_state(cm.model, run.load_state())
    cm.mark_stale()
    summary: dict[str, Any] = evaluate_split(
        model_scorer(cm), split, k=cfg.eval.k, item_vectors=zs.items, seed=cfg.train.seed
    )
    baselines = run_baselines(split, cfg, zs, progress=progress)
    baselines.pop("_chosen", None)
    summary["baselines"] = baselines
    return summary


def _extra_keys(run: RunDir) -> list[str]:
    from fedrec.config import known_keys

    return [k for k in run.read_raw_config() if k not in known_keys()]
