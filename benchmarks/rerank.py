"""Accuracy against diversity: the MMR re-ranker's trade-off curve on a trained run.

Loads RUN (a run directory of ``fedrec train`` or ``fedrec simulate``), rebuilds
its split and model, and evaluates the test slice (full ranking) with the top K
re-ranked by maximal marginal relevance (``fedrec.evaluation.rerank``, what
``diversity`` does in ``/recommend``) at each weight of ``--weights``. The
re-ranker uses the model's item vectors; diversity@K is measured, as in every
summary, with the backbone's zero-shot text vectors. Prints a table and writes
``rerank_tradeoff.png`` into RUN (or ``--plot``).

    python benchmarks/rerank.py runs/central [--weights 0,0.1,0.2,0.3,0.5,0.7,0.9]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path)
    parser.add_argument("--weights", default="0,0.1,0.2,0.3,0.5,0.7,0.9")
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fedrec.evaluation.harness import evaluate_cases, reranked_scorer
    from fedrec.runs.load import load_run
    from fedrec.runs.rundir import RunDir

    loaded = load_run(RunDir(args.run))
    cm, split, k = loaded.cm, loaded.split, loaded.cfg.eval.k
    cm.ensure_fresh()
    with torch.no_grad():
        items = torch.arange(cm.n_items, device=cm.device)
        vectors = cm.model.item_vectors(cm.item_text, items).float().cpu().numpy()
    rows = []
    print(f"run {args.run}: test slice, {len(split.test)} users, K = {k}")
    print(f"{'diversity':>9} {'ndcg@K':>8} {'recall@K':>9} {'div@K':>7} {'cov@K':>7} {'nov@K':>7}")
    for weight in [float(w) for w in args.weights.split(",")]:
        scorer = reranked_scorer(cm.score_all, vectors, k, weight)
        m = evaluate_cases(
            scorer, split.test, split, k=k, item_vectors=loaded.zero_shot.items, seed=0
        )
        row = [weight, *(m[f"{name}@{k}"] for name in ("ndcg", "recall", "diversity"))]
        row += [m[f"coverage@{k}"], m[f"novelty@{k}"]]
        rows.append(row)
        weight, ndcg, recall, div, cov, nov = row
        print(f"{weight:9.2f} {ndcg:8.4f} {recall:9.4f} {div:7.4f} {cov:7.4f} {nov:7.3f}")
    _plot(np.array(rows), k, args.plot or args.run / "rerank_tradeoff.png")


def _plot(rows: np.ndarray, k: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(rows[:, 3], rows[:, 1], marker="o")
    for weight, div, ndcg in zip(rows[:, 0], rows[:, 3], rows[:, 1], strict=True):
        ax.annotate(f"{weight:g}", (div, ndcg), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel(f"diversity@{k} (intra-list, zero-shot text vectors)")
    ax.set_ylabel(f"test NDCG@{k}")
    ax.set_title("MMR re-ranking (point labels: diversity weight)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
