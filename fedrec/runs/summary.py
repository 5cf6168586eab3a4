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


def plot_click_curves(summary: dict[str, Any], run_path: Path, k: int) -> list[Path]:
    """``cold_users_curve.png`` (cold users' NDCG@K by first clicks, the model with and
    without its profile) and ``new_to_scenario_curve.png`` (new-to-scenario users' NDCG@K
    by events known in the new scenario), every baseline beside the model; a plot only
    where the split has such users."""
    plots = [
        (
            "cold_users_curve",
            "first clicks known (and the profile, where there is one)",
            f"cold users' NDCG@{k}",
            "Cold-start users by clicks ({users} users, full ranking)",
        ),
        (
            "new_to_scenario_curve",
            "events known in the new scenario (history elsewhere kept)",
            f"new-to-scenario NDCG@{k}",
            "Users new to a scenario ({users} users, ranked among its items)",
        ),
    ]
    written = []
    for name, xlabel, ylabel, title in plots:
        curve = summary.get(name) or {}
        if not curve:
            continue
        key = f"ndcg@{k}"
        clicks = sorted(curve, key=int)
        lines = {"model": [curve[c][key] for c in clicks]}
        hidden = summary.get(f"{name}_no_profile") or {}
        if hidden:
            lines["model, no profile"] = [hidden[c][key] for c in clicks]
        for method, result in (summary.get("baselines") or {}).items():
            theirs = result.get(name) or {}
            if theirs:
                lines[method] = [theirs[c][key] for c in clicks]
        users = int(curve[clicks[0]].get("users", 0))
        written.append(
            plot_curves(
                run_path / f"{name}.png",
                [int(c) for c in clicks],
                lines,
                xlabel=xlabel,
                ylabel=ylabel,
                title=title.format(users=users),
            )
        )
    return written


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
