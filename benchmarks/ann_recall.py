"""Recall@k of the HNSW index (``--index hnsw``) against exact top-k, and both latencies.

Loads PATH (a run directory or a serving bundle), grows its catalog in memory by
``--grow`` synthetic items encoded by the model's item tower (nothing is
written), and for ``--queries`` users with 5 random history items compares the
items each index returns. HNSW candidates are re-ranked exactly, so the scores
it returns are exact; only recall is approximate.

    python benchmarks/ann_recall.py runs/central --grow 20000
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serving import new_items
from fedrec.serving.index import ExactIndex, make_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--grow", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    from fedrec.serving import Recommender
    from fedrec.serving.bundle import bundle_path

    source = bundle_path(args.path)  # a run is exported on first use
    work = Path(tempfile.mkdtemp(prefix="fedrec-ann-"))
    try:
        rec = Recommender.load(shutil.copytree(source, work / "bundle"))
        rng = random.Random(0)
        t = time.perf_counter()
        for start in range(0, args.grow, 2000):
            rec.add_items(new_items(start, min(2000, args.grow - start), rec.scenarios, rng))
        print(f"{len(rec.items)} items ({args.grow} encoded in {time.perf_counter() - t:.0f} s)")
        exact: ExactIndex = rec.index
        t = time.perf_counter()
        hnsw = make_index("hnsw", exact.vectors, exact.offsets, exact.temperature)
        print(f"HNSW built in {time.perf_counter() - t:.1f} s")
        ids = list(rec.row)
        hits, tied, t_exact, t_hnsw = [], [], 0.0, 0.0
        for _ in range(args.queries):
            rows = [rec.row[i] for i in rng.sample(ids, 5)]
            user, _ = rec._user(rows, None)
            allowed = np.ones(len(exact), dtype=bool)
            allowed[rows] = False
            t = time.perf_counter()
            want = exact.top(user, args.k, allowed)
            t_exact += time.perf_counter() - t
            t = time.perf_counter()
            got = hnsw.top(user, args.k, allowed)
            t_hnsw += time.perf_counter() - t
            hits.append(len(set(want.tolist()) & set(got.tolist())) / args.k)
            # items with the same text tie: any item scoring at least the k-th exact score
            # is a correct answer
            scores = exact.scores(user)
            kth = scores[want[-1]] - 1e-5 * max(1.0, abs(scores[want[-1]]))
            tied.append(float(np.mean(scores[got] >= kth)) if len(got) else 0.0)
        n = args.queries
        print(
            f"recall@{args.k} of hnsw against exact: {np.mean(hits):.3f} by item id "
            f"(min {np.min(hits):.1f}), {np.mean(tied):.3f} counting ties by score "
            f"(min {np.min(tied):.1f}); top-k {1000 * t_exact / n:.2f} ms exact, "
            f"{1000 * t_hnsw / n:.2f} ms hnsw"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
