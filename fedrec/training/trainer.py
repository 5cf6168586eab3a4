"""One epoch of local training; the same code runs centrally and on each client."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from fedrec.config import TrainConfig
from fedrec.config.learning import COLD_CLICKS
from fedrec.models.catalog_model import CatalogModel
from fedrec.training.loss import UserView, reduce_loss, sampled_softmax_loss
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
    scenario: torch.Tensor | None = None,
    views: Sequence[UserView] = (),
) -> torch.Tensor:
    """Sampled-softmax loss of a batch (``reduction='none'`` gives one loss per example).

    users [B], targets [B], history [B, T], negatives [P] drawn from the catalog.
    Positives and negatives are encoded in one pass through the LoRA layers
    (shared computation; each example's loss still involves only its own
    positive, history and the data-independent negatives). ``scenario`` [B] (a
    model with ``scenario-input``): the scenario each example's user vector is for
    (``n_scenarios``: any); an example for scenario s ranks its positive against
    the negatives in s only, as a request for s ranks s's items. ``views``: each
    example's loss adds each view's weight times its loss with the user seen
    through that view instead (:func:`user_views`).
    """
    model = cm.model
    candidates = torch.cat([targets, negatives])
    unique, inverse = torch.unique(candidates, return_inverse=True)
    text = cm.items.encode(model.encoder, unique)  # [U, H], gradients through LoRA
    vecs = model.item_vectors(text, unique)  # [U, d]
    pos_vecs, neg_vecs = vecs[inverse[: len(targets)]], vecs[inverse[len(targets) :]]
    temp = model.cfg.temperature
    pos_bias, neg_bias = model.item_offsets(targets), model.item_offsets(negatives)

    def loss_of(
        seen: torch.Tensor, request: torch.Tensor | None, how: str, cold: bool = False
    ) -> torch.Tensor:
        u = cm.user_vectors(users, seen, request, cold_tower=cold)  # [B, d]
        pv, nv, pb, nb = pos_vecs, neg_vecs, pos_bias, neg_bias
        if cold:  # the view trains the cold tower alone
            pv, nv, pb, nb = pv.detach(), nv.detach(), pb.detach(), nb.detach()
        pos = (u * pv).sum(-1) / temp + pb
        neg = u @ nv.T / temp + nb
        if request is not None:
            neg = neg.masked_fill(model.outside_request(request, negatives), -torch.inf)
        return sampled_softmax_loss(pos, neg, targets, negatives, reduction=how)

    views = [v for v in views if v.weight > 0]
    if not views:
        return loss_of(history, scenario, reduction)
    loss = loss_of(history, scenario, "none")
    for view in views:
        seen = loss_of(view.history, view.request(scenario), "none", view.cold_tower)
        loss = loss + view.weight * seen
    return reduce_loss(loss, reduction)


def request_scenarios(
    cm: CatalogModel, targets: np.ndarray, rng: np.random.Generator
) -> torch.Tensor | None:
    """The scenario each training example's user vector is for, with ``scenario-input``:
    half of them their target's scenario, half any scenario (None without it)."""
    model = cm.model
    if model.scenario_embedding is None:
        return None
    conditioned = rng.random(len(targets)) < 0.5
    scenario = np.where(conditioned, cm.item_scenario[targets], model.n_scenarios)
    return torch.as_tensor(scenario, device=cm.device)


#: Most items a shortened history keeps (0 to this many): the most a cold tower reads.
SHORT_HISTORY = COLD_CLICKS


def shorten(
    rows: TrainingRows, idx: np.ndarray, cfg: TrainConfig, rng: np.random.Generator
) -> np.ndarray:
    """The histories [B, T] of rows ``idx``, a ``short_history_share`` of them cut to
    0..:data:`SHORT_HISTORY` items (each length equally likely): the most recent ones
    (``short_history_from = recent``) or the owner's first ones (``first``, like a
    cold-start user known by their first clicks and asked about later ones)."""
    history = rows.history[idx]
    if cfg.short_history_share <= 0:
        return history
    cut = rng.random(len(idx)) < cfg.short_history_share
    lengths = rng.integers(0, SHORT_HISTORY + 1, len(idx))
    return np.where(cut[:, None], _cut(rows, idx, lengths, cfg.short_history_from), history)


def _cut(rows: TrainingRows, idx: np.ndarray, lengths: np.ndarray, keep: str) -> np.ndarray:
    """The histories [B, T] of rows ``idx`` cut to ``lengths`` items: the most recent
    ones (``keep = recent``) or the owner's first ones (``first``)."""
    if keep == "first":
        return rows.first_items(idx, lengths)
    history = rows.history[idx]
    return np.where(np.arange(history.shape[1])[None, :] < lengths[:, None], history, -1)


def cold_views(
    rows: TrainingRows, idx: np.ndarray, cfg: TrainConfig, rng: np.random.Generator
) -> np.ndarray | None:
    """The cold views [B, :data:`SHORT_HISTORY`] of rows ``idx`` for ``cold_view_weight``
    (None when off): each row's history cut to 0..:data:`SHORT_HISTORY` items (each
    length equally likely; the most recent ones or the owner's first, per
    ``short_history_from``), the profile kept: the row's user as a cold-start user
    would be seen."""
    if cfg.cold_view_weight <= 0:
        return None
    lengths = rng.integers(0, SHORT_HISTORY + 1, len(idx))
    return _cut(rows, idx, lengths, cfg.short_history_from)[:, :SHORT_HISTORY]


def scenario_views(
    cm: CatalogModel, rows: TrainingRows, idx: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The new-to-scenario views [B, T] of rows ``idx`` for ``scenario_view_weight``:
    each row's history without its items in the target's scenario but the
    0..:data:`SCENARIO_KEEP` earliest (:func:`drop_scenario` on every row)."""
    return drop_scenario(rows.history[idx], rows.targets[idx], cm.item_scenario, 1.0, rng)


def user_views(
    cm: CatalogModel,
    rows: TrainingRows,
    idx: np.ndarray,
    cfg: TrainConfig,
    rng: np.random.Generator,
) -> list[UserView]:
    """The extra views of rows ``idx`` whose losses join their examples' (each drawn from
    the row's own data only): a cold view (``cold_view_weight``, :func:`cold_views`), a
    new-to-scenario view (``scenario_view_weight``, :func:`scenario_views`) ranked
    among the target's scenario's items, as a request for that scenario is, and with
    a cold tower (``cold-head``) its view (:func:`cold_tower_views`, weight 1)."""
    device = cm.device
    views = []
    cold = cold_views(rows, idx, cfg, rng)
    if cold is not None:
        views.append(UserView(cfg.cold_view_weight, torch.as_tensor(cold, device=device)))
    if cfg.scenario_view_weight > 0:
        history = torch.as_tensor(scenario_views(cm, rows, idx, rng), device=device)
        request = torch.as_tensor(cm.item_scenario[rows.targets[idx]], device=device)
        views.append(UserView(cfg.scenario_view_weight, history, request))
    if cm.model.cold_head is not None:
        first = torch.as_tensor(cold_tower_views(rows, idx, rng), device=device)
        views.append(UserView(1.0, first, None, cold_tower=True))
    return views


def cold_tower_views(rows: TrainingRows, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cold tower's views [B, :data:`SHORT_HISTORY`] of rows ``idx``: each row's
    owner by their first 1..:data:`SHORT_HISTORY` clicks before the target (each count
    equally likely; fewer where the target comes sooner) and their profile, as the
    cold tower sees a cold-start user at serving time, asked about a later click."""
    lengths = rng.integers(1, SHORT_HISTORY + 1, len(idx))
    return rows.first_items(idx, lengths)[:, :SHORT_HISTORY]


def training_histories(
    cm: CatalogModel,
    rows: TrainingRows,
    idx: np.ndarray,
    cfg: TrainConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """The histories [B, T] rows ``idx`` train with: shortened (:func:`shorten`), then
    with the target's scenario dropped (:func:`drop_scenario`), each per its share."""
    history = shorten(rows, idx, cfg, rng)
    targets = rows.targets[idx]
    return drop_scenario(history, targets, cm.item_scenario, cfg.scenario_dropout_share, rng)


#: Most events in the target's scenario a scenario-dropped history keeps (0 to this many).
SCENARIO_KEEP = 3


def drop_scenario(
    history: np.ndarray,
    targets: np.ndarray,
    item_scenario: np.ndarray,
    share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``history`` [B, T] with a ``share`` of its rows losing their items in the target's
    scenario but the 0..:data:`SCENARIO_KEEP` earliest (each count equally likely): like
    a user new to that scenario, known by their other scenarios and their first events
    in it."""
    if share <= 0:
        return history
    b, _ = history.shape
    same = (history >= 0) & (item_scenario[history.clip(min=0)] == item_scenario[targets][:, None])
    # Rank of each same-scenario item from the oldest (history is most recent first).
    from_oldest = np.cumsum(same[:, ::-1], axis=1)[:, ::-1]
    keep = rng.integers(0, SCENARIO_KEEP + 1, b)
    drop = same & (from_oldest > keep[:, None]) & (rng.random(b) < share)[:, None]
    kept = np.where(drop, -1, history)
    # Close the gaps so the kept items keep their recency order from position 0.
    order = np.argsort(kept < 0, axis=1, kind="stable")
    return np.take_along_axis(kept, order, axis=1)


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
        history = torch.as_tensor(training_histories(cm, rows, idx, cfg, rng), device=device)
        negatives = torch.as_tensor(rng.integers(0, cm.n_items, size=cfg.negatives), device=device)
        scenario = request_scenarios(cm, rows.targets[idx], rng)
        views = user_views(cm, rows, idx, cfg, rng)
        loss = batch_loss(cm, users, targets, history, negatives, scenario=scenario, views=views)
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
