"""Cross-device scale: simulations of 1,000 and 10,000 one-user clients.

Runs ``simulations/cross-device.toml`` (one user per client, a sample of
clients per round) with ``synthetic-users`` set to each population, watches
the memory of the whole process tree (the fedrec process, Ray and its
workers) while it runs, and prints per round: wall time, the training phase
split into the clients' own training and the framework's overhead per sampled
client, evaluation time, and the tree's memory when the round ended (flat
memory: no per-client state piles up).

    python benchmarks/cross_device.py --out runs/bench-xdev [--users 1000,10000]
        [--rounds 5] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.simulations import simulate_command


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and every process below it."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def rounds_done(metrics: Path) -> int:
    try:
        return sum(1 for _ in metrics.open()) - 1  # round 0 is the starting model
    except OSError:
        return -1


def run(users: int, out: Path, rounds: int, sets: list[str]) -> tuple[float, int, dict[int, int]]:
    """One simulation; (wall seconds, peak tree RSS, RSS when each round ended)."""
    sets = [f"synthetic-users={users}", f"num-server-rounds={rounds}", *sets]
    args = simulate_command(out, "cross-device", sets)
    start = time.perf_counter()
    child = subprocess.Popen(args)
    proc = psutil.Process(child.pid)
    peak, at_round = 0, {}
    while child.poll() is None:
        rss = tree_rss(proc)
        peak = max(peak, rss)
        done = rounds_done(out / "metrics.jsonl")
        if done >= 1 and done not in at_round:
            at_round[done] = rss
        time.sleep(0.25)
    if child.returncode:
        raise SystemExit(f"simulation of {users} clients failed (exit {child.returncode})")
    return time.perf_counter() - start, peak, at_round


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--users", default="1000,10000", help="populations, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], help="extra config keys")
    args = parser.parse_args()
    mib = 1024**2
    for users in [int(u) for u in args.users.split(",")]:
        out = args.out / f"users-{users}"
        wall, peak, at_round = run(users, out, args.rounds, args.set)
        summary = json.loads((out / "summary.json").read_text())
        fed = summary["federation"]
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        print(
            f"\n{fed['clients']} clients ({users} synthetic users), {fed['clients_per_round']} "
            f"sampled per round, {fed.get('workers')} workers: wall {wall:.0f} s, "
            f"peak memory {peak / mib:.0f} MiB (process tree)"
        )
        print(
            f"{'round':>5s} {'clients':>7s} {'wall s':>7s} {'train s':>8s} {'own s':>7s} "
            f"{'overhead/client s':>18s} {'eval s':>7s} {'memory MiB':>11s}"
        )
        for r in records[1:]:
            own = r.get("client_train_seconds")
            over = r.get("overhead_per_client_seconds")
            evals = r.get("client_eval_phase_seconds", 0.0) + r.get("server_eval_seconds", 0.0)
            mem = at_round.get(r["round"])
            print(
                f"{r['round']:5d} {r['clients']:7d} {r['round_seconds']:7.1f} "
                f"{r['train_phase_seconds']:8.1f} {'-' if own is None else f'{own:.1f}':>7s} "
                f"{'-' if over is None else f'{over:.3f}':>18s} {evals:7.1f} "
                f"{'-' if mem is None else f'{mem / mib:.0f}':>11s}"
            )
        over = fed.get("overhead_per_client_seconds_mean")
        later = [
            r["overhead_per_client_seconds"]
            for r in records[2:]
            if "overhead_per_client_seconds" in r
        ]
        print(
            f"overhead per sampled client: {over if over is None else f'{over:.3f} s'} (mean), "
            + (f"{sum(later) / len(later):.3f} s after round 1" if later else "")
        )


if __name__ == "__main__":
    main()
