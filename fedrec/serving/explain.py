"""Why an item was recommended: each known thing's share of its score, in words.

The user vector is ``u = normalize(raw)``, ``raw = Σ_j w_j W z_j + c``: a weighted
pool of the history items' vectors ``z_j`` (and the profile, one more member
with ``profile-head = item``) through the linear user head ``W, c``. An item's
score ``<u, v>/τ + b`` is therefore exactly a sum of one term per member,
``<w_j W z_j, v>/(|raw| τ)``, the head's constant ``<c, v>/(|raw| τ)`` and the
item's learned popularity ``b``. An explanation names the members with the
largest positive terms and their share of the positive part of the score
(members and popularity): "Because you liked “X” (52%) and it matches your
profile (31%)".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
