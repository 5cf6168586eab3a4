"""Every configured baseline through the same harness and split as the model.

Popularity, scenario popularity (on data with several scenarios), ItemKNN,
EASE (its l2 tuned on validation NDCG, so the baseline is a fair one) and the
zero-shot backbone (the untrained text model's vectors,
read from a freshly built catalog model).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from fedrec.baselines import EASE, ItemKNN, Popularity, ScenarioPopularity
from fedrec.baselines.zero_shot import ZeroShot
from fedrec.config import Config, split_list
from fedrec.data.split import Split
from fedrec.errors import ConfigError
from fedrec.evaluation.harness import (
    Scorer,
    evaluate_cases,
    evaluate_split,
    matrix_scorer,
    train_matrix,
)
from fedrec.models.catalog_model import CatalogModel

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class BaselineResults:
    """Each baseline's slices (as :func:`evaluate_split` gives them) and the tuned settings."""

    results: dict[str, dict[str, Any]]
    chosen: dict[str, float]  # e.g. {"ease-l2": 200.0}


def run_baselines(
    split: Split, cfg: Config, zs: ZeroShotVectors, progress: bool = False
) -> BaselineResults:
    """Every configured baseline through the same harness and split."""
    k, seed = cfg.eval.k, cfg.train.seed
    train = train_matrix(split)
    out: dict[str, dict[str, Any]] = {}
    chosen: dict[str, float] = {}
    for name in split_list(cfg.eval.baselines):
        if name == "scenario-popularity" and len(split.scenarios) < 2:
            log.info("baseline scenario-popularity skipped: one scenario, it is popularity")
            continue
        if progress:
            log.info("baseline %s", name)
        scorer: Scorer
        if name == "popularity":
            scorer = matrix_scorer(Popularity().fit(train), split.n_items)
        elif name == "scenario-popularity":
            per_scenario = ScenarioPopularity(split.item_scenario).fit(train)
            scorer = matrix_scorer(per_scenario, split.n_items)
        elif name == "itemknn":
            scorer = matrix_scorer(ItemKNN().fit(train), split.n_items)
        elif name == "ease":
            scorer, chosen["ease-l2"] = tuned_ease(split, train, cfg, zs.items)
        else:
            scorer = ZeroShot(zs.items, zs.profiles).score_histories
        out[name] = evaluate_split(scorer, split, k=k, item_vectors=zs.items, seed=seed)
    return BaselineResults(out, chosen)


def tuned_ease(
    split: Split, train: sp.csr_matrix, cfg: Config, item_vectors: np.ndarray
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


def popularity_validation(split: Split, cfg: Config, zs: ZeroShotVectors) -> float:
    """Popularity's validation NDCG: the like-for-like reference for a validation curve."""
    scorer = matrix_scorer(Popularity().fit(train_matrix(split)), split.n_items)
    k = cfg.eval.k
    val = evaluate_cases(
        scorer, split.valid, split, k=k, item_vectors=zs.items, seed=cfg.train.seed
    )
    return val[f"ndcg@{k}"]
