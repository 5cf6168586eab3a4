"""Two models served as one (``fedrec export MAIN --cold-run COLD``), measured as served.

A bundle with a cold-start route answers each request knowing at most
``--max-clicks`` items with the cold-start model and every other with the main
model. This loads pairs of run directories trained on the same split (the same
data settings and seed), routes every case of the main run's split as serving
would (by how many items its history holds, the warm test included) and prints
NDCG@10 of the pair, of each model alone and of popularity from the clear training
counts, with the pair's paired difference from each; with several pairs also every
pair's users pooled.

    python benchmarks/cold_route.py --pair runs/ml-s0 runs/ml-first-s0 \\
        --pair runs/ml-s1 runs/ml-first-s1 --max-clicks 5
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cold_tower import paired, per_user_ndcg, pooled


def _same_split(a, b, where: str) -> None:
    """Both runs must rank the same catalog and hold out the same cases, or the pair was
    not trained as served."""
    if not np.array_equal(a.item_ids, b.item_ids) or a.item_text != b.item_text:
        sys.exit(f"{where}: the two runs rank different catalogs: train both on one dataset.")
    for name in ("test", "valid"):
        x, y = getattr(a, name), getattr(b, name)
        if not np.array_equal(x.users, y.users) or not all(
            np.array_equal(p, q) for p, q in zip(x.relevant, y.relevant, strict=True)
        ):
            sys.exit(f"{where}: the two runs' {name} cases differ: train both on one split.")
    cold = (a.cold_user_items, b.cold_user_items)
    if len(cold[0]) != len(cold[1]) or not all(
        np.array_equal(p, q) for p, q in zip(*cold, strict=True)
    ):
        sys.exit(f"{where}: the two runs' cold users differ: train both on one split.")


def measure(main_dir: str, cold_dir: str, k: int, max_clicks: int) -> dict[str, dict]:
    """Per-user NDCG@k of the pair, each model alone and popularity, on each slice."""
    from fedrec.runs.load import load_run
    from fedrec.runs.rundir import RunDir

    main, cold = load_run(RunDir(main_dir)), load_run(RunDir(cold_dir))
    _same_split(main.split, cold.split, f"{main_dir} and {cold_dir}")
    split = main.split

    def routed(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        short = np.array([len(np.unique(h)) <= max_clicks for h in histories], dtype=bool)
        out = np.empty((len(users), main.cm.n_items), dtype=np.float64)
        for model, rows in ((cold.cm, short), (main.cm, ~short)):
            if rows.any():
                picked = [histories[i] for i in np.flatnonzero(rows)]
                out[rows] = model.score_all(users[rows], picked)
        return out

    counts = split.item_counts().astype(np.float64)
    scorers = {
        "pair": routed,
        "main": lambda users, histories: main.cm.score_all(users, histories),
        "cold": lambda users, histories: cold.cm.score_all(users, histories),
        "pop": lambda users, histories: np.tile(counts, (len(users), 1)),
    }
    slices = {"warm": split.test} | {str(c): v for c, v in split.cold_user_curve().items()}
    return {
        name: {who: per_user_ndcg(s, cases, k) for who, s in scorers.items()}
        for name, cases in slices.items()
    }


def report(title: str, got: dict[str, dict[str, np.ndarray]]) -> None:
    print(title)
    print(f"{'slice':>9} {'users':>6} {'pair':>7} {'main':>7} {'cold':>7} {'pop':>7} "
          f"{'pair / pop':>10} {'pair - main':>16} {'pair - pop':>16}")  # fmt: skip
    for name, v in got.items():
        label = "warm test" if name == "warm" else f"{name} clicks"
        ratio = v["pair"].mean() / max(v["pop"].mean(), 1e-12)
        print(f"{label:>9} {len(v['pair']):>6} {v['pair'].mean():>7.4f} {v['main'].mean():>7.4f} "
              f"{v['cold'].mean():>7.4f} {v['pop'].mean():>7.4f} {ratio:>9.2f}× "
              f"{paired(v['pair'], v['main']):>16} {paired(v['pair'], v['pop']):>16}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pair", nargs=2, action="append", required=True, metavar=("MAIN", "COLD"),
        help="a main run and a cold-start run trained on the same split",
    )  # fmt: skip
    parser.add_argument("--max-clicks", type=int, default=5, help="as fedrec export's")
    parser.add_argument("-k", type=int, default=10, help="the cut-off (default 10)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    results = []
    for main_dir, cold_dir in args.pair:
        results.append(measure(main_dir, cold_dir, args.k, args.max_clicks))
        report(f"{main_dir} + {cold_dir} (at most {args.max_clicks} items: cold)", results[-1])
    if len(results) > 1:
        report(f"pooled over {len(results)} pairs", pooled(results))


if __name__ == "__main__":
    main()
