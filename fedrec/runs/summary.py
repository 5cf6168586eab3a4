"""The run summary (``summary.json``): one builder for centralized and federated runs.

A summary holds the model's full-ranking slices (``test``, ``cold_items``,
``cold_users``, ``scenarios``), the ``baselines`` on the same split, the
``validation`` curve, how the run went (``training`` for a centralized run,
``federation`` for a federated one), the ``model``'s size, its ``privacy``
guarantee and facts about the ``data``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from fedrec.config import Config
from fedrec.data.split import Split
from fedrec.evaluation.baselines import ZeroShotVectors, run_baselines
from fedrec.evaluation.harness import cold_users_curve, evaluate_split
from fedrec.models.catalog_model import CatalogModel
from fedrec.models.state import model_facts
from fedrec.plots import plot_curves

#: The privacy section of a run trained without differential privacy.
NO_PRIVACY: dict[str, Any] = {"mode": "off", "epsilon": float("inf")}


def evaluate_model(
    cm: CatalogModel, split: Split, cfg: Config, zs: ZeroShotVectors, *, progress: bool = False
) -> tuple[dict[str, Any], dict[str, float]]:
    """The model's slices with every baseline beside them; and the baselines' tuned settings."""
    common = {"k": cfg.eval.k, "item_vectors": zs.items, "seed": cfg.train.seed}
    summary: dict[str, Any] = evaluate_split(cm.score_all, split, **common)
    if cm.model.uses_profiles and cm.profiles is not None:  # the same users, profile hidden
        summary["cold_users_curve_no_profile"] = cold_users_curve(
            partial(cm.score_all, profiles=False), split, **common
        )
    baselines = run_baselines(split, cfg, zs, progress=progress)
    summary["baselines"] = baselines.results
    return summary, baselines.chosen


def build_summary(
    cm: CatalogModel,
    split: Split,
    cfg: Config,
    zs: ZeroShotVectors,
    *,
    validation: dict[str, Any],
    run: tuple[str, dict[str, Any]],
    privacy: dict[str, Any],
    progress: bool = False,
) -> dict[str, Any]:
    """The whole summary of the model as it is now in ``cm``.

    ``run`` is the section that says how the run went: ``("training", {...})``
    for a centralized run, ``("federation", {...})`` for a federated one.
    """
    summary, chosen = evaluate_model(cm, split, cfg, zs, progress=progress)
    summary["validation"] = validation
    summary[run[0]] = run[1]
    summary["model"] = model_facts(cm.model)
    summary["privacy"] = privacy
    summary["data"] = {
        "dataset": cfg.data.dataset,
        **split.stats,
        **chosen,
        "items": split.n_items,
        "users": split.n_users,
        "scenarios": split.scenarios,
    }
    return summary


def plot_cold_users(summary: dict[str, Any], path: Path, k: int) -> Path | None:
    """``cold_users_curve.png``: cold users' NDCG@K by first clicks, the model (with and
    without its profile) beside every baseline; None when the split has no cold users."""
    curve = summary.get("cold_users_curve") or {}
    if not curve:
        return None
    key = f"ndcg@{k}"
    clicks = sorted(curve, key=int)
    lines = {"model": [curve[c][key] for c in clicks]}
    hidden = summary.get("cold_users_curve_no_profile") or {}
    if hidden:
        lines["model, no profile"] = [hidden[c][key] for c in clicks]
    for name, result in (summary.get("baselines") or {}).items():
        theirs = result.get("cold_users_curve") or {}
        if theirs:
            lines[name] = [theirs[c][key] for c in clicks]
    users = int(curve[clicks[0]].get("users", 0))
    return plot_curves(
        path,
        [int(c) for c in clicks],
        lines,
        xlabel="first clicks known (and the profile, where there is one)",
        ylabel=f"cold users' NDCG@{k}",
        title=f"Cold-start users by clicks ({users} users, full ranking)",
    )


def closing_sentence(summary: dict[str, Any], k: int = 10) -> str:
    """One line for the end of a run: its test NDCG beside popularity's, and its guarantee."""
    key = f"ndcg@{k}"
    ndcg = summary.get("test", {}).get(key, float("nan"))
    popularity = summary.get("baselines", {}).get("popularity", {}).get("test", {}).get(key)
    beside = f" (popularity {popularity:.4f})" if popularity is not None else ""
    privacy = summary.get("privacy", {})
    mode = privacy.get("mode", "off")
    if mode == "off":
        guarantee = "no differential privacy (privacy-mode = off): updates were not protected"
    else:
        guarantee = (
            f"{mode} DP per {privacy.get('unit', '?')}, ε = {privacy.get('epsilon', 0.0):.2f}, "
            f"δ = {privacy.get('delta', 0.0):.1e} (the most any client spent)"
        )
        if privacy.get("secure_aggregation"):
            guarantee += "; secure aggregation: the server saw only sums of updates"
    return f"fedrec: test NDCG@{k} {ndcg:.4f}{beside}; {guarantee}."
