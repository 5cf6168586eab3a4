"""Peak memory and time of DP-SGD steps against ``dp-physical-batch``, in one run.

Each setting runs in a fresh process (so peak RSS is its own): the same model,
data and Poisson batches, a few DP-SGD steps of ``--batch`` expected examples,
split into backward passes of at most the physical batch (0 = fedrec's
automatic size). Printed: the peak resident memory added by training (sampled
every 2 ms) over the process after setup, and seconds per step. The clipped sum
and the noise are the same whatever the split (tests/privacy/test_dp_sgd.py
checks it), so this is a pure memory/time trade.

    python benchmarks/dp_memory.py --batch 256 --physical 0,64,16 \
        --set synthetic-items-per-scenario=2000
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import torch

from fedrec.config import build_config, resolve
from fedrec.data.loading import prepare_split
from fedrec.device import pick_device
from fedrec.models.catalog_model import build_catalog_model
from fedrec.privacy import randomness
from fedrec.privacy.dp_sgd import trainer_for


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:  # Linux: resident pages are the second field
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakRSS(threading.Thread):
    """Samples the resident set every few milliseconds while training runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = _rss_mib(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.002):
            self.peak = max(self.peak, _rss_mib())


def one(args: argparse.Namespace, physical: int) -> dict[str, float]:
    cfg = resolve(args.config, args.set)
    pick_device("cpu", cfg.train.threads)  # resident memory is the CPU's; threads as set
    torch.manual_seed(0)
    split = prepare_split(cfg)
    cm = build_catalog_model(split, cfg.model, cfg.data, torch.device("cpu"))
    flat = cfg.to_flat() | {
        "privacy-mode": "local",
        "noise-multiplier": 1.0,
        "batch-size": args.batch,
        "dp-physical-batch": physical,
    }
    dp_cfg = build_config(flat)
    trainer = trainer_for(cm, split.train, dp_cfg, epochs=1, rng=np.random.default_rng(0))
    trained = sum(p.numel() for p in trainer.optimizer.params)
    # The same Poisson batches in every process: a test-only replay of the OS seeds.
    seeds = itertools.count(1)
    randomness.os_seed = lambda: next(seeds)
    trainer.random.reseed()
    trainer.mechanism = dataclasses.replace(trainer.mechanism, steps_per_epoch=args.steps)
    cm.ensure_fresh(users=trainer.rows.users)  # the text caches are set-up, not training
    before = _rss_mib()
    sampler = _PeakRSS()
    sampler.start()
    start = time.perf_counter()
    trainer.epoch()
    seconds = (time.perf_counter() - start) / args.steps
    sampler.done.set()
    sampler.join()
    trainer.close()
    return {
        "physical": trainer.physical_batch,
        "trained": trained,
        "added_mib": sampler.peak - before,
        "seconds": seconds,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--physical", default="0,64,16", help="comma-separated sizes")
    parser.add_argument("--config")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.one is not None:
        print(json.dumps(one(args, args.one)))
        return
    results = []
    for physical in (int(p) for p in args.physical.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--one", str(physical)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append((physical, json.loads(out.strip().splitlines()[-1])))
    trained = results[0][1]["trained"]
    print(
        f"Poisson batches of {args.batch} expected examples, {args.steps} steps, "
        f"{trained:,} trained values ({trained * 4 * args.batch / 2**20:,.0f} MiB of "
        f"per-sample gradients for a whole batch), threads {results[0][1]['threads']}"
    )
    print(f"{'dp-physical-batch':<22} {'pieces of':>9} {'peak MiB added':>15} {'s/step':>8}")
    for physical, r in results:
        label = "0 (auto)" if physical == 0 else str(physical)
        print(f"{label:<22} {r['physical']:>9} {r['added_mib']:>15,.0f} {r['seconds']:>8.2f}")


if __name__ == "__main__":
    main()
