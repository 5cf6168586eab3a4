"""Encoding and training speed against a naive baseline, measured in one run.

Naive baseline: a plain ``AutoModel`` forward over the item texts, batch 32,
padded to 128 tokens (and, for training, the same loss with every candidate
encoded that way, LoRA on the same layers). fedrec: texts tokenized once to
their own length (at most ``max-tokens``), frozen lower layers cached, only the
LoRA layers run per step; a step is what training runs, the config's extra
views of each example (the cold view by default) included, so the ratio is
against a baseline that does less.

    python benchmarks/speed.py [--items 600] [--steps 5] [--set KEY=VALUE ...]

Prints items/s and examples/s for both, their ratios, and peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModel

from fedrec.config import parse_layer_spec, resolve, split_list
from fedrec.data.loading import prepare_split
from fedrec.device import pick_device
from fedrec.models.backbone import load_backbone, resolve_backbone
from fedrec.models.catalog_model import build_catalog_model
from fedrec.training.rows import build_rows
from fedrec.training.trainer import (
    batch_loss,
    make_optimizer,
    request_scenarios,
    training_histories,
    user_views,
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _naive_encoder(cfg, lora: bool, device: torch.device):
    model = AutoModel.from_pretrained(resolve_backbone(cfg.model.backbone)).to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    if lora and cfg.model.lora_rank > 0:
        layers = parse_layer_spec(cfg.model.lora_layers, len(model.encoder.layer))
        model = get_peft_model(
            model,
            LoraConfig(
                r=cfg.model.lora_rank,
                lora_alpha=cfg.model.lora_alpha,
                target_modules=split_list(cfg.model.lora_targets),
                layers_to_transform=layers,
                layers_pattern="layer",
            ),
        )
    return model.eval()


def _naive_encode(model, tokenizer, texts, grad: bool = False):
    batch = tokenizer(
        texts, padding="max_length", max_length=128, truncation=True, return_tensors="pt"
    ).to(model.device)
    with torch.set_grad_enabled(grad):
        h = model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    return (h * m).sum(1) / m.sum(1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=600, help="catalog items to encode")
    parser.add_argument("--steps", type=int, default=5, help="training steps to time")
    parser.add_argument("--config")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = resolve(args.config, args.set)
    device = pick_device(cfg.train.device, cfg.train.threads)
    torch.manual_seed(0)
    split = prepare_split(cfg)
    texts = split.item_text[: args.items]
    _, tokenizer = load_backbone(cfg.model.backbone)

    # -- catalog encoding ------------------------------------------------------------
    naive = _naive_encoder(cfg, lora=False, device=device)
    _naive_encode(naive, tokenizer, texts[:32])  # warm-up (CUDA kernels)
    _sync(device)
    t = time.perf_counter()
    for start in range(0, len(texts), 32):
        _naive_encode(naive, tokenizer, texts[start : start + 32])
    _sync(device)
    naive_items = len(texts) / (time.perf_counter() - t)

    t = time.perf_counter()
    cm = build_catalog_model(split, cfg.model, cfg.data, device)  # includes the cache
    build_s = time.perf_counter() - t
    _sync(device)
    t = time.perf_counter()
    cm.items.encode_all(cm.model.encoder)
    _sync(device)
    ours_items = split.n_items / (time.perf_counter() - t)

    # -- training steps ---------------------------------------------------------------
    rows = build_rows(split.train, cfg.data.max_history)
    rng = np.random.default_rng(0)
    bs, neg = cfg.train.batch_size, cfg.train.negatives
    optimizer = make_optimizer(cm, cfg.train)
    cm.model.train()

    def ours_step():  # what one step of training does, its extra views included
        idx = rng.integers(0, len(rows), bs)
        history = training_histories(cm, rows, idx, cfg.train, rng)
        loss = batch_loss(
            cm,
            torch.as_tensor(rows.users[idx], device=device),
            torch.as_tensor(rows.targets[idx], device=device),
            torch.as_tensor(history, device=device),
            torch.as_tensor(rng.integers(0, cm.n_items, neg), device=device),
            scenario=request_scenarios(cm, rows.targets[idx], rng),
            views=user_views(cm, rows, idx, cfg.train, rng),
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    ours_step()  # warm-up
    _sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        ours_step()
    _sync(device)
    ours_train = args.steps * bs / (time.perf_counter() - t)

    naive_lora = _naive_encoder(cfg, lora=True, device=device)
    head = torch.nn.Linear(naive_lora.config.hidden_size, cfg.model.embed_dim).to(device)
    params = [p for p in naive_lora.parameters() if p.requires_grad] + list(head.parameters())
    naive_opt = torch.optim.AdamW(params, lr=cfg.train.lr)
    naive_bs = 32
    naive_neg = max(1, round(neg * naive_bs / bs))  # same negatives per example

    def naive_step():
        idx = rng.integers(0, len(rows), naive_bs)
        cand = np.concatenate([rows.targets[idx], rng.integers(0, split.n_items, naive_neg)])
        vecs = torch.nn.functional.normalize(
            head(
                _naive_encode(naive_lora, tokenizer, [split.item_text[i] for i in cand], grad=True)
            ),
            dim=-1,
        )
        users = vecs[:naive_bs].detach()
        logits = users @ vecs.T / cfg.model.temperature
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(naive_bs, device=device))
        naive_opt.zero_grad()
        loss.backward()
        naive_opt.step()

    naive_step()
    _sync(device)
    t = time.perf_counter()
    steps = max(2, args.steps)
    for _ in range(steps):
        naive_step()
    _sync(device)
    naive_train = steps * naive_bs / (time.perf_counter() - t)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
        f"threads: {torch.get_num_threads()}, "
        f"backbone: {cfg.model.backbone or 'all-MiniLM-L6-v2'}, "
        f"lora-layers: {cfg.model.lora_layers}, max-tokens: {cfg.model.max_tokens}"
    )
    print(
        f"catalog encoding  naive {naive_items:8.1f} items/s   fedrec {ours_items:8.1f} items/s   "
        f"ratio {ours_items / naive_items:5.1f}x   (one-off model build + cache {build_s:.1f}s)"
    )
    print(
        f"training          naive {naive_train:8.1f} ex/s      fedrec {ours_train:8.1f} ex/s      "
        f"ratio {ours_train / naive_train:5.1f}x"
    )
    print(f"peak resident memory: {peak_mb:.0f} MiB")


if __name__ == "__main__":
    main()
