"""What a model's cold tower (``cold-head``) adds, measured on that one model.

With ``cold-head`` the main tower trains as it would without it, so the cold
tower's worth is a paired question: the same trained model, the same cold users
and the same clicks, pooled once by the cold tower and once by the main tower.
This loads run directories trained with ``cold-head = true`` and prints, for each
point of their cold-user curves with clicks, NDCG@10 both ways, their paired
difference with its standard error (over users), and popularity from the clear
training counts; with several runs also every run's users pooled. The warm test is
scored both ways too: only its users with 1 to 5 clicks reach the cold tower.

    python benchmarks/cold_tower.py runs/ct-s0 runs/ct-s1 runs/ct-s2 runs/ct-s3
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Scorer = Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray]


def per_user_ndcg(scorer: Scorer, cases, k: int) -> np.ndarray:
    """NDCG@k of each case (full ranking, its history excluded)."""
    from fedrec.metrics import NDCG
    from fedrec.metrics.ranking import rank_items

    scores = scorer(cases.users, list(cases.history))
    ranking = rank_items(
        scores, k=k, exclude=cases.history, relevant=cases.relevant, user_ids=cases.users
    )
    return NDCG(k).per_user(ranking.ranks)


def paired(a: np.ndarray, b: np.ndarray) -> str:
    """``mean(a - b) ± its standard error`` over the same users."""
    from fedrec.metrics.ranking import standard_error

    diff = a - b
    return f"{diff.mean():+.4f} ± {standard_error(diff):.4f}"


def measure(path: str, k: int) -> dict[str, dict[str, np.ndarray]]:
    """Per-user NDCG@k of one run: the warm test ('warm') and each cold-user curve
    point with clicks, each scored by the cold tower, the main tower and popularity."""
    from fedrec.runs.load import load_run
    from fedrec.runs.rundir import RunDir

    loaded = load_run(RunDir(path))
    cm, split = loaded.cm, loaded.split
    model = cm.model
    tower = model.cold_head
    if tower is None:
        sys.exit(f"{path} was trained without cold-head: nothing to compare.")

    def with_tower(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return cm.score_all(users, histories)

    def main_tower_only(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        model.cold_head = None  # every user pooled by the main tower
        try:
            return cm.score_all(users, histories)
        finally:
            model.cold_head = tower

    counts = split.item_counts().astype(np.float64)

    def popularity(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.tile(counts, (len(users), 1))

    scorers = (("cold", with_tower), ("main", main_tower_only), ("pop", popularity))
    slices = {"warm": split.test}
    # A profile alone (0 clicks) is the main tower's either way.
    slices |= {str(c): cases for c, cases in split.cold_user_curve().items() if c > 0}
    return {
        name: {who: per_user_ndcg(s, cases, k) for who, s in scorers}
        for name, cases in slices.items()
    }


def pooled(results: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """Every run's per-user figures together, slice by slice and scorer by scorer."""
    return {
        name: {who: np.concatenate([r[name][who] for r in results]) for who in results[0][name]}
        for name in results[0]
    }


def report(title: str, got: dict[str, dict[str, np.ndarray]]) -> None:
    print(title)
    print(f"{'slice':>9} {'users':>6} {'cold tower':>10} {'main tower':>10} "
          f"{'difference':>18} {'popularity':>10} {'tower - popularity':>18}")  # fmt: skip
    for name, v in got.items():
        label = "warm test" if name == "warm" else f"{name} click" + ("s" if name != "1" else "")
        print(f"{label:>9} {len(v['cold']):>6} {v['cold'].mean():>10.4f} "
              f"{v['main'].mean():>10.4f} {paired(v['cold'], v['main']):>18} "
              f"{v['pop'].mean():>10.4f} {paired(v['cold'], v['pop']):>18}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="run directories trained with cold-head = true")
    parser.add_argument("-k", type=int, default=10, help="the cut-off (default 10)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    results = []
    for path in args.runs:
        results.append(measure(path, args.k))
        report(path, results[-1])
    if len(results) > 1:  # every run's users together (each run's pairs stay paired)
        report(f"pooled over {len(results)} runs", pooled(results))


if __name__ == "__main__":
    main()
