"""Cost of a DP-SGD step against a non-private step on the same batch, in one run.

Three steps over the same rows, timed after a warm-up:

- ``shared``: the non-private training step (one pool of catalog negatives per batch);
- ``per-example``: the same loss laid out per example (each example its own
  negatives), no DP: what per-sample gradients need, with the text tower either
  frozen (text vectors from the cache) or trained (every candidate encoded per
  example), as ``dp-text`` chooses;
- ``dp-sgd``: each per-example layout under Opacus (hooks, clipping, noise).

    python benchmarks/dp_overhead.py [--batch 64] [--steps 5] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from fedrec.config import build_config, resolve
from fedrec.data.loading import prepare_split
from fedrec.device import pick_device
from fedrec.models.catalog_model import build_catalog_model
from fedrec.privacy.dp_sgd import trainer_for
from fedrec.training.per_example import DP_TEXT, per_example_loss
from fedrec.training.rows import build_rows
from fedrec.training.trainer import batch_loss, make_optimizer


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
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
    history = torch.as_tensor(rows.history[idx], device=device)
    k = cfg.privacy.dp_negatives
    per_ex_neg = torch.as_tensor(rng.integers(0, cm.n_items, size=(args.batch, k)), device=device)
    pool = torch.as_tensor(rng.integers(0, cm.n_items, cfg.train.negatives), device=device)
    optimizer = make_optimizer(cm, cfg.train)
    cm.model.train()

    def shared():
        optimizer.zero_grad()
        batch_loss(cm, users, targets, history, pool).backward()
        optimizer.step()

    def per_example(text):
        def step():
            optimizer.zero_grad()
            per_example_loss(cm, users, targets, history, per_ex_neg, text=text).backward()
            optimizer.step()

        return step

    times = {"shared": _timed(shared, args.steps, device)}
    for text in DP_TEXT:
        times[text] = _timed(per_example(text), args.steps, device)
    for text in DP_TEXT:
        flat = cfg.to_flat() | {"privacy-mode": "local", "dp-text": text, "batch-size": args.batch}
        dp = trainer_for(cm, split.train, build_config(flat), epochs=1, rng=rng)
        cm.model.train()

        def dp_step(dp=dp, text=text):
            dp.optimizer.zero_grad()
            per_example_loss(
                cm, users, targets, history, per_ex_neg, reduction="sum", text=text
            ).backward()
            dp.optimizer.step()

        times[f"dp-{text}"] = _timed(dp_step, args.steps, device)
        dp.close()
    base = times["shared"]
    print(
        f"batch {args.batch}, shared pool {cfg.train.negatives} negatives, "
        f"per-example {k} negatives, device {device}, threads {torch.get_num_threads()}"
    )
    print(f"{'step':<44} {'ms/step':>8} {'x shared':>9}")
    rows_out = [
        ("shared pool (non-private training)", "shared"),
        *[(f"per-example, {text} text tower, no DP", text) for text in DP_TEXT],
        *[(f"DP-SGD (Opacus hooks), {text} text tower", f"dp-{text}") for text in DP_TEXT],
    ]
    for label, key in rows_out:
        print(f"{label:<44} {times[key] * 1000:8.1f} {times[key] / base:9.2f}")
    for text in DP_TEXT:
        print(
            f"Opacus with the {text} text tower: {times[f'dp-{text}'] / times[text]:.2f}x "
            "the same layout without DP"
        )


if __name__ == "__main__":
    main()
