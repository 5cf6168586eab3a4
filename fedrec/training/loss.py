"""Sampled softmax with negatives drawn from the public catalog.

Each example's loss is the cross-entropy of its positive against negatives drawn
uniformly from the catalog. The negatives are independent of the training data
(never other examples' positives, as in-batch negatives would be), so every
example's loss depends on that example alone, which per-sample differential
privacy requires. An example's loss may add the losses of other views of its user
(:class:`UserView`, each cut from that example's own data).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def sampled_softmax_loss(
    pos_logits: torch.Tensor,
    neg_logits: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of each positive against its negatives.

    pos_logits: [B] score of each example's positive item
    neg_logits: [B, P] scores of the negatives (shared pool [P] or per example [B, P])
    targets:    [B] positive item indices
    negatives:  [P] or [B, P] negative item indices; a negative equal to the
                example's own positive is masked out.
    """
    clash = (
        negatives.unsqueeze(0) == targets.unsqueeze(1)
        if negatives.dim() == 1
        else (negatives == targets.unsqueeze(1))
    )
    neg_logits = neg_logits.masked_fill(clash, float("-inf"))
    logits = torch.cat([pos_logits.unsqueeze(1), neg_logits], dim=1)
    labels = torch.zeros(len(pos_logits), dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, labels, reduction=reduction)


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-example losses [B] reduced as ``reduction`` says: 'none', 'sum' or 'mean'."""
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


@dataclass(frozen=True, eq=False)
class UserView:
    """Another sight of each example's user, whose loss (times ``weight``) joins the
    example's: the same target, the user seen through ``history`` [B, T'] and ranked
    for the requests ``scenario`` [B] (None: the example's own request). A
    ``cold_tower`` view is pooled by the model's cold tower (``cold-head``) and its
    loss trains that tower alone: no gradient reaches the item tower (item vectors,
    LoRA, item bias) through it. Every other sight of a user is pooled by the main
    tower."""

    weight: float
    history: torch.Tensor
    scenario: torch.Tensor | None = None
    cold_tower: bool = False

    def take(self, rows: torch.Tensor) -> UserView:
        """The view of examples ``rows`` only."""
        scenario = None if self.scenario is None else self.scenario[rows]
        return UserView(self.weight, self.history[rows], scenario, self.cold_tower)

    def request(self, own: torch.Tensor | None) -> torch.Tensor | None:
        """The scenario each example is ranked for through this view, given the
        example's ``own`` request."""
        return own if self.scenario is None else self.scenario
