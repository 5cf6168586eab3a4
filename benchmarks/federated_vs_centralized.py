"""Federated vs centralized test NDCG@10 under the same split, model and epoch budget.

Runs ``fedrec train`` for E epochs (no early stopping) and ``fedrec simulate``
with R rounds of L local epochs (R * L = E) for an IID and a non-IID partition,
then prints each federated run's test NDCG@10 as a fraction of the centralized
one and the first round whose global test NDCG@10 reaches 95% of the run's
final value. A plot of the per-round curves goes next to the runs.

    python benchmarks/federated_vs_centralized.py --out runs/bench-fed [--epochs 8]
        [--set KEY=VALUE ...]      # e.g. --set dataset=movielens-100k --set data-path=...
        [--fed-set KEY=VALUE ...]  # federated runs only, e.g. --fed-set batch-size=64
        [--keep]                   # reuse runs that finished before (continue a long benchmark)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from fedrec.plots import plot_curves

PARTITIONS = {
    "iid": ["partition=user"],
    "non-iid": ["partition=dirichlet", "dirichlet-alpha=0.3"],
}


def _fedrec(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "fedrec", *args], check=True)


def _done(out: Path, keep: bool) -> bool:
    """With --keep, a run that finished before (it has a summary) is not run again."""
    return keep and (out / "summary.json").is_file()


def _sets(pairs: list[str]) -> list[str]:
    return [a for p in pairs for a in ("--set", p)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--epochs", type=int, default=8, help="epoch budget E = rounds x local epochs"
    )
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--set", action="append", default=[], help="key for every run")
    parser.add_argument(
        "--fed-set",
        action="append",
        default=[],
        help="key for the federated runs only (their own tuning, e.g. batch-size=64)",
    )
    parser.add_argument("--keep", action="store_true", help="reuse runs that finished before")
    args = parser.parse_args()
    rounds = args.epochs // args.local_epochs
    common = [*args.set, "baselines=popularity"]
    central = args.out / "centralized"
    if not _done(central, args.keep):
        _fedrec(
            "train",
            "--quiet",
            "--overwrite",
            "--out",
            str(central),
            *_sets([*common, f"epochs={args.epochs}", "patience=0"]),
        )
    c_ndcg = json.loads((central / "summary.json").read_text())["test"]["ndcg@10"]
    rows, curves = [], {}
    for name, extra in PARTITIONS.items():
        out = args.out / name
        if not _done(out, args.keep):
            _fedrec(
                "simulate",
                "--quiet",
                "--overwrite",
                "--out",
                str(out),
                *_sets(
                    [
                        *common,
                        *args.fed_set,
                        *extra,
                        f"num-clients={args.clients}",
                        f"num-server-rounds={rounds}",
                        f"local-epochs={args.local_epochs}",
                        "server-eval-every=1",
                    ]
                ),
            )
        summary = json.loads((out / "summary.json").read_text())
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        curve = [r["test_ndcg@10"] for r in records if r["round"] > 0]
        final = curve[-1]
        reach = next((i + 1 for i, v in enumerate(curve) if v >= 0.95 * final), None)
        curves[f"{name} (per round)"] = curve
        rows.append(
            (
                name,
                summary["test"]["ndcg@10"],
                summary["test"]["ndcg@10"] / c_ndcg,
                reach,
                summary["federation"]["bytes_sent_per_client_round"],
            )
        )
    print(f"centralized test ndcg@10 ({args.epochs} epochs): {c_ndcg:.4f}")
    print(
        f"{'partition':10s} {'fed ndcg@10':>12s} {'vs central':>11s} "
        f"{'rounds to 95%':>14s} {'bytes/client/round':>19s}"
    )
    for name, ndcg, ratio, reach, sent in rows:
        print(f"{name:10s} {ndcg:12.4f} {ratio:10.1%} {reach!s:>14s} {sent:19.0f}")
    plot_curves(
        args.out / "federated_vs_centralized.png",
        range(1, rounds + 1),
        curves,
        xlabel="round",
        ylabel="test ndcg@10",
        title="Federated vs centralized",
        references={"centralized": c_ndcg},
    )


if __name__ == "__main__":
    main()
