"""Serving speed: latency, throughput, start-up, memory and insertion of ``fedrec serve``.

Starts a real ``fedrec serve`` on loopback over a copy of PATH (a run directory
or a serving bundle), grows its catalog with ``POST /items`` to each size in
``--items``, and at each size sends a bounded number of requests at each
concurrency from an asyncio httpx loop: ``GET /health`` (the framework's
floor), history-only ``POST /recommend`` (5 known items) and profile-only
``POST /recommend`` (one profile text through the backbone). Prints p50/p99
latency and throughput per kind, their ratio to ``/health`` in the same run,
start-up time, resident memory and insertion time. The server and the load
generator share this machine's cores.

    fedrec train --out runs/central
    python benchmarks/serving.py runs/central --items 10000,100000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.serving.server import serving_process

WORDS = [
    "amber",
    "quiet",
    "river",
    "solar",
    "velvet",
    "rapid",
    "urban",
    "alpine",
    "golden",
    "crimson",
    "silent",
    "electric",
    "wooden",
    "cosmic",
    "gentle",
    "wild",
    "midnight",
    "coastal",
    "northern",
    "vintage",
    "modern",
    "lunar",
    "rustic",
]
NOUNS = [
    "lantern",
    "jacket",
    "sonata",
    "headline",
    "backpack",
    "ballad",
    "review",
    "kettle",
    "anthem",
    "journal",
    "sneakers",
    "overture",
    "report",
    "blender",
    "chorus",
    "atlas",
    "tent",
    "symphony",
    "column",
    "speaker",
]
PROFILES = [
    "Weekend hiker who loves camping gear and folk music",
    "Reads business news every morning, listens to jazz",
    "Student on a budget, into electronic music and gadgets",
    "Retired teacher who follows local politics and gardening",
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def new_items(start: int, count: int, scenarios: list[str], rng: random.Random) -> list[dict]:
    return [
        {
            "item_id": f"bench-{n:07d}",
            "title": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {rng.choice(NOUNS)}",
            "attributes": f"Series {n % 97}",
            "scenario": scenarios[n % len(scenarios)],
        }
        for n in range(start, start + count)
    ]


async def load(base: str, kind: str, bodies: list, concurrency: int) -> tuple[np.ndarray, float]:
    """Latencies (ms) of every request and the wall time, at ``concurrency``."""
    queue = list(bodies)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                t = time.perf_counter()
                if kind == "health":
                    r = await client.get("/health")
                else:
                    r = await client.post("/recommend", json=body)
                latencies.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return np.array(latencies), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a run directory or a serving bundle")
    parser.add_argument("--items", default="10000", help="catalog sizes to grow to")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--requests", type=int, default=300, help="per kind and concurrency")
    parser.add_argument("--index", default="exact")
    args = parser.parse_args()
    rng = random.Random(0)
    work = Path(tempfile.mkdtemp(prefix="fedrec-serving-bench-"))
    try:
        from fedrec.serving.bundle import bundle_path

        source = bundle_path(args.path)  # a run is exported on first use
        bundle = Path(shutil.copytree(source, work / "bundle"))
        bundle.joinpath("added_items.parquet").unlink(missing_ok=True)
        started = time.perf_counter()
        with serving_process(bundle, "--index", args.index, "--max-k", "100") as (base, proc):
            startup = time.perf_counter() - started
            client = httpx.Client(base_url=base, timeout=600)
            catalog = client.get("/items", params={"limit": 200}).json()
            scenarios = client.get("/scenarios").json()
            ids = [i["item_id"] for i in catalog]
            n = client.get("/ready").json()["items"]
            pid = proc.pid
            print(f"start-up {startup:.1f} s to /ready; {n} items; RSS {rss_mib(pid):.0f} MiB")
            added = 0
            for size in [int(s) for s in args.items.split(",")]:
                grow = max(size - n, 0)
                t = time.perf_counter()
                for chunk in range(0, grow, 1000):
                    rows = new_items(added, min(1000, grow - chunk), scenarios, rng)
                    client.post("/items", json={"items": rows}).raise_for_status()
                    added += len(rows)
                inserted = time.perf_counter() - t
                n = client.get("/ready").json()["items"]
                print(
                    f"\n{n} items: inserted {grow} in {inserted:.1f} s "
                    f"({grow / max(inserted, 1e-9):.0f} items/s); RSS {rss_mib(pid):.0f} MiB"
                )
                header = f"{'kind':<14}{'c':>3}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}"
                print(header + f"{'p99/health':>12}")
                for c in [int(x) for x in args.concurrency.split(",")]:
                    floor = None
                    for kind in ("health", "history", "profile"):
                        bodies = [
                            {"history": rng.sample(ids, 5), "k": 10}
                            if kind == "history"
                            else {"profile": rng.choice(PROFILES), "k": 10}
                            for _ in range(args.requests)
                        ]
                        asyncio.run(load(base, kind, bodies[:20], c))  # warm-up
                        lat, wall = asyncio.run(load(base, kind, bodies, c))
                        p50, p99 = np.percentile(lat, [50, 99])
                        floor = p99 if kind == "health" else floor
                        print(
                            f"{kind:<14}{c:>3}{p50:>9.1f}{p99:>9.1f}{len(lat) / wall:>9.0f}"
                            f"{p99 / floor:>12.1f}"
                        )
            client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
