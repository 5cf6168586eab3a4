"""Cost of a DP-SGD step against a non-private step on the same batch, in one run.

The same rows for every step kind, timed after a warm-up:

- ``shared``: the non-private training step (one pool of catalog negatives per batch,
  encoded through LoRA with the positives);
- ``per-example``: the loss laid out per example (each example its own negatives),
  no DP: what per-sample gradients need. ``frozen``: text vectors from the cache, LoRA
  fixed; ``trained``: LoRA trains through each example's positive and
  ``dp-text-negatives`` drawn negatives; ``exact`` (with ``--exact``): through all
  ``dp-negatives`` of them;
- ``dp-sgd``: each layout under Opacus (hooks, clipping, noise).

Every step kind carries what training gives each example: its history shaped as
training shapes it and its extra views (the default cold view); ``--no-views``
times the bare loss.

Prints ms per step, the ratio to the shared step, and the process's peak resident
memory (``--only`` runs a subset, to read one layout's peak alone).

    python benchmarks/dp_overhead.py [--batch 64] [--steps 5] [--exact] [--only KIND,...]
                                     [--no-views] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import torch

from fedrec.config import build_config, resolve
from fedrec.data.loading import prepare_split
from fedrec.device import pick_device
from fedrec.models.catalog_model import build_catalog_model
from fedrec.privacy.dp_sgd import trainer_for
from fedrec.training.per_example import per_example_loss
from fedrec.training.rows import build_rows
from fedrec.training.trainer import batch_loss, make_optimizer, training_histories, user_views


def _timed(step, steps: int, device: torch.device) -> float:
    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


#: Layout -> (dp-text, LoRA through every negative).
LAYOUTS = {"frozen": ("frozen", False), "trained": ("trained", False), "exact": ("trained", True)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--exact", action="store_true", help="also LoRA through every negative")
    parser.add_argument("--only", default="", help="comma list of: shared,frozen,trained,exact")
    parser.add_argument(
        "--no-views", dest="views", action="store_false", help="time the bare loss, no views"
    )
    parser.add_argument("--config")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = resolve(args.config, args.set)
    torch.manual_seed(0)
    split = prepare_split(cfg)
    device = pick_device(cfg.train.device, cfg.train.threads)
    cm = build_catalog_model(split, cfg.model, cfg.data, device)
    rows = build_rows(split.train, cfg.data.max_history)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(rows), args.batch)
    users = torch.as_tensor(rows.users[idx], device=device)
    targets = torch.as_tensor(rows.targets[idx], device=device)
    history = torch.as_tensor(training_histories(cm, rows, idx, cfg.train, rng), device=device)
    # The example's extra views as training draws them (the default cold view), in
    # every step kind alike.
    views = user_views(cm, rows, idx, cfg.train, rng) if args.views else []
    k = cfg.privacy.dp_negatives
    per_ex_neg = torch.as_tensor(rng.integers(0, cm.n_items, size=(args.batch, k)), device=device)
    pool = torch.as_tensor(rng.integers(0, cm.n_items, cfg.train.negatives), device=device)
    optimizer = make_optimizer(cm, cfg.train)
    generator = torch.Generator(device=device).manual_seed(0)
    cm.model.train()
    kinds = ["shared", "frozen", "trained", *(["exact"] if args.exact else [])]
    if args.only:
        kinds = [kind for kind in ("shared", *LAYOUTS) if kind in args.only.split(",")]

    def shared():
        optimizer.zero_grad()
        batch_loss(cm, users, targets, history, pool, views=views).backward()
        optimizer.step()

    def loss_of(kind, reduction="mean"):
        text, every = LAYOUTS[kind]
        return per_example_loss(
            cm,
            users,
            targets,
            history,
            per_ex_neg,
            reduction=reduction,
            text=text,
            text_negatives=k if every else cfg.privacy.dp_text_negatives,
            generator=generator,
            views=views,
        )

    def per_example(kind):
        def step():
            optimizer.zero_grad()
            loss_of(kind).backward()
            optimizer.step()

        return step

    times = {"shared": _timed(shared, args.steps, device)}  # the base of every ratio
    for kind in kinds:
        if kind == "shared":
            continue
        times[kind] = _timed(per_example(kind), args.steps, device)
        text = LAYOUTS[kind][0]
        flat = cfg.to_flat() | {"privacy-mode": "local", "dp-text": text, "batch-size": args.batch}
        dp = trainer_for(cm, split.train, build_config(flat), epochs=1, rng=rng)
        cm.model.train()

        def dp_step(dp=dp, kind=kind):
            dp.optimizer.zero_grad()
            loss_of(kind, "sum").backward()
            dp.optimizer.step()

        times[f"dp-{kind}"] = _timed(dp_step, args.steps, device)
        dp.close()
    base = times["shared"]
    drawn = cfg.privacy.dp_text_negatives
    print(
        f"batch {args.batch}, shared pool {cfg.train.negatives} negatives, "
        f"per-example {k} negatives (LoRA through {drawn} drawn), device {device}, "
        f"threads {torch.get_num_threads()}"
    )
    labels = {
        "frozen": "frozen text tower",
        "trained": f"LoRA through {drawn} drawn negatives",
        "exact": f"LoRA through all {k} negatives",
    }
    print(f"{'step':<58} {'ms/step':>8} {'x shared':>9}")
    out = [("shared pool (non-private training)", "shared")]
    for kind in kinds:
        if kind != "shared":
            out += [(f"per-example, {labels[kind]}, no DP", kind)]
            out += [(f"DP-SGD (Opacus), {labels[kind]}", f"dp-{kind}")]
    for label, key in out:
        print(f"{label:<58} {times[key] * 1000:8.1f} {times[key] / base:9.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MiB")
    if device.type == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
