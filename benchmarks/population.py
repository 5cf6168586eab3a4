"""Large populations: generating, splitting and partitioning 100,000 users / 1M interactions.

Times each stage of the data pipeline a simulation of that size goes through
(the synthetic generator, the split, the row construction, the partition into
clients and one client's data) and prints the process's peak memory.

    python benchmarks/population.py [--users 100000] [--per-user 10] [--clients 0,1000]
"""

from __future__ import annotations

import argparse
import resource
import time

from fedrec.data.split import split_dataset
from fedrec.data.synthetic import generate_synthetic
from fedrec.federated.partition import check_partition, client_data
from fedrec.training.rows import build_rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--per-user", type=int, default=10, help="mean interactions per user")
    parser.add_argument("--items-per-scenario", type=int, default=200)
    parser.add_argument("--clients", default="0,1000", help="num-clients values (0 = per user)")
    args = parser.parse_args()
    times: list[tuple[str, float]] = []
    start = total = time.perf_counter()
    ds = generate_synthetic(
        n_users=args.users,
        items_per_scenario=args.items_per_scenario,
        interactions_per_user=args.per_user,
    )
    times.append(("generate", time.perf_counter() - start))
    start = time.perf_counter()
    split = split_dataset(
        ds, cold_item_fraction=0.1, cold_user_fraction=0.1, cold_user_history=3, seed=0
    )
    times.append(("split", time.perf_counter() - start))
    start = time.perf_counter()
    rows = build_rows(split.train, 20)
    times.append(("training rows", time.perf_counter() - start))
    for clients in [int(c) for c in args.clients.split(",")]:
        start = time.perf_counter()
        n = check_partition(split, "user", clients)
        first = client_data(split, "user", clients, 0, alpha=0.5, seed=0)
        times.append(
            (f"partition into {n} clients (+ client 0's data)", time.perf_counter() - start)
        )
        start = time.perf_counter()
        for client in range(1, min(n, 101)):
            client_data(split, "user", clients, client, alpha=0.5, seed=0)
        per = (time.perf_counter() - start) / max(1, min(n, 101) - 1)
        times.append((f"one more client's data ({len(first.train)} rows for client 0)", per))
    elapsed = time.perf_counter() - total
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.users:,} users, {len(ds.interactions):,} interactions, {len(ds.items):,} items; "
        f"{len(rows):,} training rows"
    )
    for name, seconds in times:
        print(f"  {name:<52s} {seconds:8.3f} s")
    print(f"total {elapsed:.1f} s, peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
