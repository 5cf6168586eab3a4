"""Framework overhead of a federated round on the quickstart config, per engine.

Runs ``simulations/quickstart.toml`` without DP (under local DP a reply carries
no timing, so the clients' own training time is unknown to the server) with
each simulation engine, and prints per round the training phase's wall time,
the clients' own training time, the framework's overhead per client
((phase wall x workers - clients' time) / clients), evaluation time, and the
whole command's wall time (start-up and the final evaluation included).

    python benchmarks/overhead.py --out runs/bench-overhead [--engines inline,ray]
        [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.simulations import simulate_command


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--engines", default="inline,ray")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    for engine in args.engines.split(","):
        out = args.out / engine
        sets = ["privacy-mode=off", f"simulation-engine={engine}", *args.set]
        start = time.perf_counter()
        subprocess.run(simulate_command(out, "quickstart", sets), check=True)
        wall = time.perf_counter() - start
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        workers = json.loads((out / "summary.json").read_text())["federation"]["workers"]
        print(f"\nengine {engine} ({workers} worker(s)): whole command {wall:.1f} s")
        print(
            f"{'round':>5s} {'train phase s':>14s} {'clients own s':>14s} "
            f"{'overhead/client s':>18s} {'evaluation s':>13s}"
        )
        for r in records[1:]:
            evals = r["client_eval_phase_seconds"] + r["server_eval_seconds"]
            print(
                f"{r['round']:5d} {r['train_phase_seconds']:14.2f} "
                f"{r['client_train_seconds']:14.2f} {r['overhead_per_client_seconds']:18.3f} "
                f"{evals:13.2f}"
            )


if __name__ == "__main__":
    main()
