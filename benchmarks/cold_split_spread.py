"""How much of a cold-user ratio is the split: the classic baselines over many splits.

A cold-user slice is small (189 users on MovieLens-100K at ``cold-user-fraction =
0.2``), so one split's "× popularity" carries the luck of which users were drawn. This
splits the configured dataset with seeds 0 .. N-1 (each seed draws other cold users;
nothing is trained) and scores every split's cold users at each click point of the
curve with popularity, ItemKNN and EASE (its l2 picked on that split's validation
users, as ``fedrec train`` picks it). It prints each split's NDCG@K, then every
split's users pooled: each baseline's ratio to popularity and its paired difference.

The pooled standard error treats the pooled cases as independent. They are not quite:
a user can be cold in several splits, so it understates the error somewhat.

    python benchmarks/cold_split_spread.py --splits 10 --set dataset=movielens-100k \\
        --set data-path=/data/ml-100k --set cold-item-fraction=0 --set cold-user-fraction=0.2
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def per_user_ndcg(scorer, cases, k: int) -> np.ndarray:
    """NDCG@k of each case (full ranking, its history excluded)."""
    from fedrec.metrics import NDCG
    from fedrec.metrics.ranking import rank_items

    scores = scorer(cases.users, list(cases.history))
    ranking = rank_items(
        scores, k=k, exclude=cases.history, relevant=cases.relevant, user_ids=cases.users
    )
    return NDCG(k).per_user(ranking.ranks)


def baselines(split, cfg) -> dict:
    """Popularity, ItemKNN and validation-tuned EASE fitted on ``split``'s training rows."""
    from fedrec.baselines import EASE, ItemKNN, Popularity
    from fedrec.config import split_list
    from fedrec.evaluation.harness import matrix_scorer, train_matrix

    train = train_matrix(split)
    scorers = {
        "popularity": matrix_scorer(Popularity().fit(train), split.n_items),
        "itemknn": matrix_scorer(ItemKNN().fit(train), split.n_items),
    }
    best = None
    for l2 in (float(v) for v in split_list(cfg.eval.ease_l2)):
        scorer = matrix_scorer(EASE(l2=l2).fit(train), split.n_items)
        valid = per_user_ndcg(scorer, split.valid, cfg.eval.k).mean()
        best = (valid, scorer) if best is None or valid > best[0] else best
    scorers["ease"] = best[1]
    return scorers


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", type=int, default=10, help="seeds 0 .. N-1 (default 10)")
    parser.add_argument("--set", dest="set_", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fedrec.config import resolve
    from fedrec.data.loading import load_split
    from fedrec.metrics.ranking import standard_error

    cfg = resolve(None, args.set_)
    k = cfg.eval.k
    names = ("popularity", "itemknn", "ease")
    got: dict[int, dict[str, list[np.ndarray]]] = {}
    print(f"NDCG@{k} of the cold users, popularity / ItemKNN / EASE, by clicks known")
    for seed in range(args.splits):
        split = load_split(cfg.data, seed=seed)
        curve = {c: cases for c, cases in split.cold_user_curve().items() if c > 0}
        if not curve or not len(next(iter(curve.values()))):
            sys.exit("no cold users in this split: set cold-user-fraction above 0.")
        scorers = baselines(split, cfg)
        cells = []
        for clicks, cases in curve.items():
            per = {name: per_user_ndcg(scorers[name], cases, k) for name in names}
            for name in names:
                got.setdefault(clicks, {n: [] for n in names})[name].append(per[name])
            cells.append(f"{clicks}: " + " / ".join(f"{per[n].mean():.4f}" for n in names))
        users = len(next(iter(curve.values())))
        print(f"split {seed:>2} ({users} users)  " + "   ".join(cells), flush=True)
    print(f"\nevery split's users pooled ({args.splits} splits)")
    print(f"{'clicks':>6} {'cases':>6} {'popularity':>10} {'baseline':>9} {'NDCG':>7} "
          f"{'ratio':>6} {'difference':>17} {'ratio per split':>17}")  # fmt: skip
    for clicks, per in got.items():
        pop = np.concatenate(per["popularity"])
        for name in names[1:]:
            mine = np.concatenate(per[name])
            diff = mine - pop
            pairs = zip(per[name], per["popularity"], strict=True)
            ratios = [m.mean() / p.mean() for m, p in pairs]
            error = standard_error(diff)
            print(f"{clicks:>6} {len(pop):>6} {pop.mean():>10.4f} {name:>9} {mine.mean():>7.4f} "
                  f"{mine.mean() / pop.mean():>5.2f}x {diff.mean():+.4f} ± {error:.4f} "
                  f"{min(ratios):>7.2f}-{max(ratios):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
