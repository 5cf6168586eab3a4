"""Framework overhead of a federated round on the quickstart config.

Runs ``simulations/quickstart.toml`` with each client given every core, so
clients run one after another and a round's wall time splits exactly into the
clients' own training and evaluation time and everything else (messaging,
serialization, aggregation, scheduling, per-process set-up). Server-side
evaluation is timed separately and is not counted in either.

    python benchmarks/overhead.py --out runs/bench-overhead [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    sets = [f"client-cpus={cores}", "server-eval-every=100", *args.set]
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fedrec",
            "simulate",
            "--quiet",
            "--overwrite",
            "--out",
            str(args.out),
            "--config",
            str(root / "simulations" / "quickstart.toml"),
            *[a for s in sets for a in ("--set", s)],
        ],
        check=True,
    )
    records = [json.loads(line) for line in (args.out / "metrics.jsonl").read_text().splitlines()]
    rounds = [r for r in records if r["round"] > 0]
    print(
        f"{'round':>5s} {'wall s':>8s} {'clients s':>10s} {'overhead':>9s} {'server eval s':>14s}"
    )
    for r in rounds:
        over = (r["round_seconds"] - r["client_seconds"]) / r["round_seconds"]
        print(
            f"{r['round']:5d} {r['round_seconds']:8.2f} {r['client_seconds']:10.2f} {over:9.1%} "
            f"{r['server_eval_seconds']:14.2f}"
        )
    later = rounds[1:] or rounds
    wall = sum(r["round_seconds"] for r in later)
    busy = sum(r["client_seconds"] for r in later)
    print(f"overhead after the first round (set-up excluded): {(wall - busy) / wall:.1%}")
    wall_all = sum(r["round_seconds"] for r in rounds)
    busy_all = sum(r["client_seconds"] for r in rounds)
    print(
        "overhead over all rounds (first-round model set-up included): "
        f"{(wall_all - busy_all) / wall_all:.1%}"
    )


if __name__ == "__main__":
    main()
