"""The per-example form of the training loss, for per-sample gradients (DP-SGD).

Each example gets its own positive and its own ``K`` negatives drawn from the
public catalog, and every trainable module is called with the example as the
first dimension ([B, M, ...]), so per-sample gradient hooks attribute each
gradient to exactly one example. It is the same model and loss as
:func:`fedrec.training.trainer.batch_loss`, laid out per example.

What DP-SGD trains (``text``):

- ``"frozen"`` (default): the text tower (LoRA) is held fixed under DP; every
  candidate's text vector comes from the catalog cache (exact, since the
  weights under it do not move), and the heads and ID terms train per example.
  No encoder pass per step: a DP step costs less than a non-private one.
- ``"trained"``: LoRA trains too. The loss and the gradients of the heads and
  ID terms are those of ``"frozen"`` (candidates' text vectors from the cache).
  The gradient that reaches LoRA is the loss's gradient through the
  candidates' text vectors, ``sum_j (dL/ds_j) ds_j/dθ``, taken per example
  through the positive and ``text_negatives`` of the example's negatives, each
  encoded for that example alone ([B, 1 + k, L, H]):

  - ``text_negatives >= K``: every negative with its weight ``p_j``, the exact
    gradient (1 + K encodings per example);
  - otherwise ``k`` negatives drawn with replacement with probability
    ``p_j / (1 - p_pos)``, each weighted ``(1 - p_pos) / k``: an unbiased
    estimate of the same sum (1 + k encodings per example).

  An example's extra views (its sights) share that one draw and that one pass:
  the negatives are drawn from the sights' weights mixed by their weights in the
  loss, each sight weighs a drawn text by ``p_s,j / (k q_j)`` (unbiased for each
  sight), and each chosen text is encoded once, with the sum of its sights'
  weighted user vectors (:func:`text_gradient_weights`).

  Either way an example's gradient depends on its own data only (and on the
  draw of its negatives), so per-example clipping bounds it as before. The
  softmax weights and the heads' gradients use the cached text vectors, which
  DP-SGD refreshes at the start of each epoch (as the non-private step does
  for histories); LoRA's gradient is taken at the current weights. "Exact"
  above is with respect to those cached vectors: it is the true gradient when
  the cache is fresh, and a first-order one while LoRA moves within an epoch.

Training LoRA through the positive alone (no negative pushed away) is not an
option: a shared text tower that only ever pulls positives toward their users
moves every item the same way and the ranking collapses (measured: test
NDCG@10 fell below the untrained model's).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from fedrec.config.values import DP_TEXT
from fedrec.models.catalog_model import CatalogModel
from fedrec.training.loss import UserView, reduce_loss


def per_example_loss(
    cm: CatalogModel,
    users: torch.Tensor,
    targets: torch.Tensor,
    history: torch.Tensor,
    negatives: torch.Tensor,
    reduction: str = "mean",
    text: str = "frozen",
    *,
    text_negatives: int = 4,
    generator: torch.Generator | None = None,
    scenario: torch.Tensor | None = None,
    views: Sequence[UserView] = (),
) -> torch.Tensor:
    """Sampled-softmax loss with per-example negatives.

    users [B], targets [B], history [B, T] (most recent first, -1 pad),
    negatives [B, K] item indices; a negative equal to its example's positive
    is masked out. With ``text="trained"``, ``generator`` draws which negatives
    carry LoRA's gradient (under DP: the private generator). ``scenario`` [B]: the
    scenario each user vector is for, with ``scenario-input`` (negatives elsewhere
    are masked out, as in :func:`fedrec.training.trainer.batch_loss`). ``views``: each
    example's loss adds each view's weight times its loss with the user seen through
    that view (the same example's own data; :func:`fedrec.training.trainer.user_views`).
    """
    if text not in DP_TEXT:
        raise ValueError(f"text={text!r}: expected one of {DP_TEXT}")
    candidates = torch.cat([targets.unsqueeze(1), negatives], dim=1)  # [B, 1 + K]
    # One sight of the user per view, the example's own first.
    sights = [UserView(1.0, history, scenario)] + [
        UserView(v.weight, v.history, v.request(scenario), v.cold_tower)
        for v in views
        if v.weight > 0
    ]
    labels = torch.zeros(len(targets), dtype=torch.long, device=candidates.device)
    loss = torch.zeros(len(targets), device=candidates.device)
    seen = _logits(cm, users, candidates, sights)
    for (logits, _), sight in zip(seen, sights, strict=True):
        loss = loss + sight.weight * F.cross_entropy(logits, labels, reduction="none")  # [B]
    # LoRA's part of every sight's gradient (the cold tower's sight has none), through
    # one draw of texts encoded once for all of them.
    through = [(*lu, s.weight) for lu, s in zip(seen, sights, strict=True) if not s.cold_tower]
    if text == "trained" and through:
        logits_of, users_of, weight_of = zip(*through, strict=True)
        probs = torch.softmax(torch.stack(logits_of).detach(), dim=-1)  # [S, B, 1 + K]
        mix = torch.tensor(weight_of, device=probs.device)
        columns, weights = text_gradient_weights(probs, text_negatives, generator, mix)
        users_of = torch.stack(users_of).detach()  # [S, B, d]
        directions = torch.einsum("s,sbm,sbd->bmd", mix, weights, users_of)
        surrogate = text_surrogate(cm, directions, candidates.gather(1, columns))
        # Same value as the loss; its gradient adds LoRA's part through the chosen texts.
        loss = loss + (surrogate - surrogate.detach())
    return reduce_loss(loss, reduction)


def _logits(
    cm: CatalogModel,
    users: torch.Tensor,
    candidates: torch.Tensor,
    views: list[UserView],
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per view of the user (a history [B, T_v], the requests' scenario [B] or None
    for any, and which tower pools it): logits [B, 1 + K] (clashes
    with the positive, and negatives outside the requested scenario, at -inf) and
    user vectors [B, d]."""
    model = cm.model
    # Candidates and every view's history go through the item tower in one call: each
    # item-tower module sees each example once, so the per-sample hooks build one
    # per-sample gradient per module (for the ID embedding a [B, n_items, d] tensor, the
    # bulk of a DP step's memory traffic) instead of one per call, accumulated. The
    # small pooling modules (position weights, user head) run once per view; Opacus
    # accumulates their per-sample gradients over the calls.
    n = candidates.shape[1]
    history = torch.cat([v.history for v in views], dim=1)
    t = history.shape[1]
    items = torch.cat([candidates, history.clamp(min=0)], dim=1)  # [B, 1 + K + T]
    texts = cm.item_text[items]  # [B, 1 + K + T, H], no gradient
    profile_text = cm.profile_vectors(users)  # [B, H] or None
    ids = None
    if model.profile_slot and profile_text is not None:
        # The profile rides in the same call, as one more text with its ID terms off.
        texts = torch.cat([texts, profile_text.unsqueeze(1)], dim=1)
        items = torch.cat([items, torch.zeros_like(items[:, :1])], dim=1)
        ids = torch.ones_like(items, dtype=torch.bool)
        ids[:, -1] = False
    both = model.item_vectors(texts, items, ids)  # [B, 1 + K + T (+ 1), d]
    vecs = both[:, :n]
    profile = both[:, n + t] if ids is not None else None
    offsets = model.item_offsets(candidates)
    clash = torch.zeros_like(candidates, dtype=torch.bool)
    clash[:, 1:] = candidates[:, 1:] == candidates[:, :1]
    out, start = [], n
    for v in views:
        seen = both[:, start : start + v.history.shape[1]]
        start += v.history.shape[1]
        cand, member, bias = vecs, profile, offsets
        if v.cold_tower:  # the view trains the cold tower alone
            seen, cand, bias = seen.detach(), cand.detach(), bias.detach()
            member = None if member is None else member.detach()
        u = model.pool_users(seen, v.history, profile_text, member, v.scenario, cold=v.cold_tower)
        logits = (cand @ u.unsqueeze(-1)).squeeze(-1) / model.cfg.temperature + bias
        rivals = clash
        if v.scenario is not None:  # a negative outside the requested scenario is no rival
            rivals = clash.clone()
            rivals[:, 1:] |= model.outside_request(v.scenario, candidates[:, 1:])
        out.append((logits.masked_fill(rivals, float("-inf")), u))
    return out


def text_gradient_weights(
    probs: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
    mix: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which candidates carry LoRA's gradient, and with what weight: columns [B, M] of
    ``probs`` [B, 1 + K] (column 0, the positive, first) and weights [B, M], so that
    ``sum_m weights * ds/dθ`` is (in expectation over the draw, when ``k < K``)
    ``sum_j (dL/ds_j) ds/dθ = sum_j (p_j - [j = 0]) ds_j/dθ``.

    Several sights of one user share one draw: ``probs`` [S, B, 1 + K] (each sight's
    softmax over the same candidates) and ``mix`` [S] (each sight's weight in the
    loss) give weights [S, B, M], each sight's own. The ``k`` negatives are drawn from
    the sights' negative weights mixed by ``mix_s * (1 - p_s,pos)`` and each sight's
    weight is ``p_s,j / (k q_j)`` (importance weighting, unbiased for every sight);
    with one sight that is ``(1 - p_pos) / k``, the plain draw."""
    if probs.dim() == 2:
        columns, weights = text_gradient_weights(probs.unsqueeze(0), k, generator, mix)
        return columns, weights[0]
    s, b, width = probs.shape
    mix = probs.new_ones(s) if mix is None else mix.to(probs)
    rest = 1.0 - probs[:, :, 0]  # [S, B] = each sight's negatives' total weight
    if k >= width - 1:  # every negative, exactly
        columns = torch.arange(width, device=probs.device).expand(b, width)
        weights = probs.clone()
        weights[:, :, 0] = -rest
        return columns, weights
    # The proposal: every sight's negative weights, mixed by its weight in the loss
    # (mix_s * rest_s * p_s,j / rest_s). A row whose negatives carry no weight in any
    # sight draws anything (every weight is then 0).
    mixed = torch.einsum("s,sbk->bk", mix, probs[:, :, 1:])  # [B, K]
    empty = mixed.sum(-1) <= 0
    proposal = torch.where(empty.unsqueeze(1), torch.ones_like(mixed), mixed)
    proposal = proposal / proposal.sum(-1, keepdim=True)
    drawn = torch.multinomial(proposal, k, replacement=True, generator=generator)  # [B, k]
    columns = torch.cat([torch.zeros_like(drawn[:, :1]), drawn + 1], dim=1)
    picked = probs[:, :, 1:].gather(2, drawn.expand(s, b, k))  # [S, B, k]
    q = proposal.gather(1, drawn)  # [B, k]; > 0 for anything drawn, but never divide by 0
    tiny = torch.finfo(q.dtype).tiny
    ratio = torch.where(q > 0, picked / (k * q).clamp(min=tiny), torch.zeros_like(picked))
    weights = torch.cat([-rest.unsqueeze(-1), ratio], dim=2)
    return columns, weights


def text_surrogate(cm: CatalogModel, directions: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """[B] ``sum_m <v(item_m), directions_m> / τ`` with the items' texts encoded for
    each example through LoRA ([B, M] -> [B, M, L, H]) and everything else held fixed
    (``directions`` [B, M, d]: the loss's weight on each chosen text times the user
    vector it meets): its gradient reaches the text tower only, through those texts."""
    model = cm.model
    text = cm.items.encode_grouped(model.encoder, items)  # [B, M, H]
    head = model.item_head
    z = F.linear(text, head.weight.detach(), head.bias.detach())
    if model.item_embedding is not None:
        ids = model.item_embedding.weight.detach()[items]
        z = z + model.warm[items].unsqueeze(-1) * ids
    vecs = F.normalize(z, dim=-1)
    return (vecs * directions).sum((1, 2)) / model.cfg.temperature
