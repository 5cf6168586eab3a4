"""Why an item was recommended: each known thing's share of its score, in words.

The user vector is ``u = normalize(raw)``, ``raw = Σ_j w_j W z_j + c``: a weighted
pool of the history items' vectors ``z_j`` (and the profile, one more member
with ``profile-head = item``) through the linear user head ``W, c``. An item's
score ``<u, v>/τ + b`` is therefore exactly a sum of one term per member,
``<w_j W z_j, v>/(|raw| τ)``, the head's constant ``<c, v>/(|raw| τ)`` and the
item's learned popularity ``b``. An explanation names the members with the
largest positive terms and their share of the positive part of the score
(members and popularity): "Because you liked “X” (52%) and it matches your
profile (31%)". With ``scenario-input`` the pool's weights depend on the requested
scenario and its vector joins the constant ``c``; the sum stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from fedrec.models.recommender import TwoTowerRecommender

#: Members named in an explanation, at most.
TOP_REASONS = 2
#: The label of the profile member.
PROFILE = "your profile"
#: Popularity is mentioned when it is at least this share of the positive part.
POPULAR_SHARE = 0.2


@dataclass(frozen=True)
class Member:
    """One thing known about the user: a history item (its quoted title) or the profile."""

    label: str
    vector: np.ndarray  # [d] its term of the user vector, in score units


def shares(members: list[Member], item: np.ndarray, popularity: float) -> tuple[np.ndarray, float]:
    """Each member's share of the positive part of ``item``'s score, and popularity's."""
    terms = np.stack([m.vector for m in members]).astype(np.float64) @ item
    positive = np.clip(terms, 0.0, None)
    pop = max(float(popularity), 0.0)
    total = float(positive.sum()) + pop
    if total <= 0:
        return np.zeros(len(members)), 0.0
    return positive / total, pop / total


def explain(
    members: list[Member],
    item: np.ndarray,
    constant: float,
    popularity: float,
    scenario: str | None,
) -> str:
    """A sentence a person can read for one recommended item (``item`` is its vector;
    ``constant`` its term from the user head's constant, the part owed to no member)."""
    if not members:
        where = f" in {scenario}" if scenario else ""
        return f"Popular{where}: nothing is known about you yet."
    member_share, pop_share = shares(members, item, popularity)
    order = [int(j) for j in np.argsort(-member_share, kind="stable") if member_share[j] > 0]
    if not order:
        return "Popular with everyone: nothing you told us points to it."
    liked = [j for j in order[:TOP_REASONS] if members[j].label != PROFILE]
    profile = [j for j in order[:TOP_REASONS] if members[j].label == PROFILE]
    parts = []
    if liked:
        titles = [f"{members[j].label} ({member_share[j]:.0%})" for j in liked]
        parts.append("you liked " + " and ".join(titles))
    if profile:
        parts.append(f"it matches your profile ({member_share[profile[0]]:.0%})")
    if order[0] in profile:
        parts.reverse()
    text = "Because " + " and ".join(parts)
    if pop_share >= POPULAR_SHARE:
        text += f", and it is popular ({pop_share:.0%})"
    return text + "."


def pool_members(
    model: TwoTowerRecommender,
    z: torch.Tensor,
    labels: list[str],
    profile_text: torch.Tensor | None,
    profile_vector: torch.Tensor | None,
    scenario: tuple[torch.Tensor, torch.Tensor],
    temperature: float,
) -> tuple[list[Member], np.ndarray]:
    """Each pool member's term in score units, and the head's constant in them.

    ``z`` [T, d]: the history's item vectors (most recent first, ``labels`` their
    names); ``scenario``: the request's scenario [1] and the history's scenarios
    [1, T] (a requested scenario's vector joins the constant). ``u = normalize(raw)``
    with ``raw = Σ_j w_j W z_j + c (+ profile head)``, so an item's score is
    ``Σ_j <w_j W z_j, v>/(|raw| τ) + <c, v>/(|raw| τ) + b``: the members' vectors are
    returned scaled by ``1/(|raw| τ)`` and sum, with the constant and the offset, to
    the score exactly."""
    t = len(labels)
    vectors = [z[j] for j in range(t)]
    labels = list(labels)
    positions = list(range(t))
    if profile_vector is not None:
        vectors.append(profile_vector[0])
        labels.append(PROFILE)
        positions.append(model.max_history)
    raw_terms: list[torch.Tensor] = []
    history = torch.arange(t).reshape(1, -1)
    cold = bool(model.is_cold(history)[0])  # pooled by the cold tower (``cold-head``)
    pool_head = model.pool_head(cold)
    if vectors:
        request, where = scenario
        slots = torch.as_tensor([positions])
        logits = model.pool_logits(slots, history, request, where, cold)[0]
        weights = torch.softmax(logits, dim=0)
        head = pool_head.weight  # [d, d]
        raw_terms = [w * (head @ v) for w, v in zip(weights, vectors, strict=True)]
    if model.profile_head is not None and profile_text is not None:
        labels.append(PROFILE)
        raw_terms.append(model.profile_head(profile_text)[0])
    constant = pool_head.bias
    term = model.scenario_term(scenario[0])
    if term is not None:
        constant = constant + term[0]
    raw = constant + sum(raw_terms, torch.zeros_like(constant))
    scale = 1.0 / (float(raw.norm()) * temperature)
    members = [
        Member(label, (v * scale).numpy()) for label, v in zip(labels, raw_terms, strict=True)
    ]
    return members, (constant * scale).numpy()
