"""The per-example form of the training loss, for per-sample gradients (DP-SGD).

Each example gets its own positive and its own ``K`` negatives drawn from the
public catalog, and every trainable module is called with the example as the
first dimension ([B, M, ...]), so per-sample gradient hooks attribute each
gradient to exactly one example. It is the same model and loss as
:func:`fedrec.training.trainer.batch_loss`, laid out per example.

Two layouts of the negatives' text (``negative_text``):

- ``"cached"`` (default): a negative's text vector comes from the catalog cache
  (computed with the weights at the start of the epoch, no gradient), so only
  the positive is encoded through the LoRA layers; the negatives still train
  the heads and ID terms. One candidate encoding per example, about the cost
  of the shared-pool step.
- ``"live"``: every negative is encoded through the LoRA layers too, so the
  LoRA weights also learn to push negatives away: ``1 + K`` encodings per
  example.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedrec.models.catalog_model import CatalogModel

NEGATIVE_TEXT = ("cached", "live")


def per_example_loss(
    cm: CatalogModel,
    users: torch.Tensor,
    targets: torch.Tensor,
    history: torch.Tensor,
    negatives: torch.Tensor,
    reduction: str = "mean",
    negative_text: str = "cached",
) -> torch.Tensor:
    """Sampled-softmax loss with per-example negatives.

    users [B], targets [B], history [B, T] (most recent first, -1 pad),
    negatives [B, K] item indices; a negative equal to its example's positive
    is masked out.
    """
    model = cm.model
    candidates = torch.cat([targets.unsqueeze(1), negatives], dim=1)  # [B, 1 + K]
    if negative_text == "live":
        text = cm.items.encode_grouped(model.encoder, candidates)  # [B, 1 + K, H]
    elif negative_text == "cached":
        positive = cm.items.encode_grouped(model.encoder, targets.unsqueeze(1))  # [B, 1, H]
        text = torch.cat([positive, cm.item_text[negatives]], dim=1)
    else:
        raise ValueError(f"negative_text={negative_text!r}: expected one of {NEGATIVE_TEXT}")
    vecs = model.item_vectors(text, candidates)  # [B, 1 + K, d]
    u = cm.user_vectors(users, history)  # [B, d]
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
