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
- ``"trained"``: every candidate (the positive and its ``K`` negatives) is
  encoded per example through the LoRA layers, which train too: ``1 + K``
  encodings per example.

Training LoRA through the positive alone (negatives from the cache) is not an
option: a shared text tower that only ever pulls positives toward their users
moves every item the same way and the ranking collapses (measured: test
NDCG@10 fell below the untrained model's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedrec.models.catalog_model import CatalogModel

DP_TEXT = ("frozen", "trained")


def per_example_loss(
    cm: CatalogModel,
    users: torch.Tensor,
    targets: torch.Tensor,
    history: torch.Tensor,
    negatives: torch.Tensor,
    reduction: str = "mean",
    text: str = "frozen",
) -> torch.Tensor:
    """Sampled-softmax loss with per-example negatives.

    users [B], targets [B], history [B, T] (most recent first, -1 pad),
    negatives [B, K] item indices; a negative equal to its example's positive
    is masked out.
    """
    model = cm.model
    candidates = torch.cat([targets.unsqueeze(1), negatives], dim=1)  # [B, 1 + K]
    # Candidates and history go through the item tower in one call: every trainable
    # module sees each example once, so the per-sample hooks build one per-sample
    # gradient per module (for the ID embedding a [B, n_items, d] tensor, the bulk of a
    # DP step's memory traffic) instead of one per call, accumulated.
    n, t = candidates.shape[1], history.shape[1]
    items = torch.cat([candidates, history.clamp(min=0)], dim=1)  # [B, 1 + K + T]
    if text == "trained":
        encoded = cm.items.encode_grouped(model.encoder, candidates)  # [B, 1 + K, H]
        texts = torch.cat([encoded, cm.history_text(history)], dim=1)
    elif text == "frozen":
        texts = cm.item_text[items]  # [B, 1 + K + T, H], no gradient
    else:
        raise ValueError(f"text={text!r}: expected one of {DP_TEXT}")
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
    u = model.pool_users(both[:, n : n + t], history, profile_text, profile)  # [B, d]
    logits = (vecs @ u.unsqueeze(-1)).squeeze(-1) / model.cfg.temperature
    logits = logits + model.item_offsets(candidates)
    clash = torch.cat(
        [
            torch.zeros_like(targets, dtype=torch.bool).unsqueeze(1),
            negatives == targets.unsqueeze(1),
        ],
        dim=1,
    )
    logits = logits.masked_fill(clash, float("-inf"))
    labels = torch.zeros(len(targets), dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, labels, reduction=reduction)
