"""One epoch of local training; the same code runs centrally and on each client."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from fedrec.config import TrainConfig
from fedrec.models.catalog_model import CatalogModel
from fedrec.training.loss import sampled_softmax_loss
from fedrec.training.rows import TrainingRows


@dataclass(frozen=True)
class EpochStats:
    loss: float
    examples: int
    seconds: float


def make_optimizer(
    cm: CatalogModel, cfg: TrainConfig, *, text_tower: bool = True
) -> torch.optim.Optimizer:
    """AdamW over the trainable tensors (without the LoRA text tower if ``text_tower=False``)."""
    params = [
        p
        for name, p in cm.model.named_parameters()
        if p.requires_grad and (text_tower or not name.startswith("encoder."))
    ]
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def batch_loss(
    cm: CatalogModel,
    users: torch.Tensor,
    targets: torch.Tensor,
    history: torch.Tensor,
    negatives: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Sampled-softmax loss of a batch (``reduction='none'`` gives one loss per example).

    users [B], targets [B], history [B, T], negatives [P] drawn from the catalog.
    Positives and negatives are encoded in one pass through the LoRA layers
    (shared computation; each example's loss still involves only its own
    positive, history and the data-independent negatives).
    """
    model = cm.model
    candidates = torch.cat([targets, negatives])
    unique, inverse = torch.unique(candidates, return_inverse=True)
    text = cm.items.encode(model.encoder, unique)  # [U, H], gradients through LoRA
    vecs = model.item_vectors(text, unique)  # [U, d]
    pos_vecs, neg_vecs = vecs[inverse[: len(targets)]], vecs[inverse[len(targets) :]]
    u = cm.user_vectors(users, history)  # [B, d]
    temp = model.cfg.temperature
    pos = (u * pos_vecs).sum(-1) / temp + model.item_offsets(targets)
    neg = u @ neg_vecs.T / temp + model.item_offsets(negatives)
    return sampled_softmax_loss(pos, neg, targets, negatives, reduction=reduction)


#: Most recent items a shortened history keeps (0 to this many).
SHORT_HISTORY = 5


def shorten(history: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """``history`` [B, T] (most recent first, -1 pad) with a ``share`` of its rows cut to
    their 0..:data:`SHORT_HISTORY` most recent items (each length equally likely)."""
    if share <= 0:
        return history
    b, t = history.shape
    cut = np.where(rng.random(b) < share, rng.integers(0, SHORT_HISTORY + 1, b), t)
    return np.where(np.arange(t)[None, :] < cut[:, None], history, -1)


def train_epoch(
    cm: CatalogModel,
    rows: TrainingRows,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    rng: np.random.Generator,
    *,
    progress: bool = False,
    desc: str = "training",
    proximal: tuple[float, dict[str, torch.Tensor]] | None = None,
) -> EpochStats:
    """One pass over this epoch's rows; refreshes the no-gradient text caches first.

    ``proximal=(mu, reference)`` adds FedProx's ``mu/2 * ||w - w_ref||^2`` over the
    trainable parameters (``reference`` maps their names to the round's start values).
    """
    named = [(n, p) for n, p in cm.model.named_parameters() if p.requires_grad]
    start = time.perf_counter()
    order = rows.epoch_rows(cfg.privacy_unit, rng, cfg.max_rows_per_epoch)
    cm.ensure_fresh(users=rows.users[order])
    cm.model.train()
    device = cm.device
    total, seen = 0.0, 0
    bar = tqdm(range(0, len(order), cfg.batch_size), desc=desc, disable=not progress, leave=False)
    for start_row in bar:
        idx = order[start_row : start_row + cfg.batch_size]
        users = torch.as_tensor(rows.users[idx], device=device)
        targets = torch.as_tensor(rows.targets[idx], device=device)
        history = torch.as_tensor(shorten(rows.history[idx], cfg.short_history_share, rng))
        history = history.to(device)
        negatives = torch.as_tensor(rng.integers(0, cm.n_items, size=cfg.negatives), device=device)
        loss = batch_loss(cm, users, targets, history, negatives)
        objective = loss
        if proximal is not None and proximal[0] > 0:
            mu, ref = proximal
            drift = sum(((p - ref[n].to(p.device)) ** 2).sum() for n, p in named)
            objective = loss + 0.5 * mu * drift
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        cm.mark_stale()
        total += float(loss.detach()) * len(idx)
        seen += len(idx)
        bar.set_postfix(loss=f"{total / seen:.3f}")
    cm.model.eval()
    return EpochStats(loss=total / max(seen, 1), examples=seen, seconds=time.perf_counter() - start)
