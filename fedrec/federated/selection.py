"""Which clients take part in a round.

Without central DP the choice is seeded by round (a resumed run samples as the
uninterrupted one would): it is no part of any guarantee. Central DP's Poisson
sample is part of its mechanism and is drawn from OS randomness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def select_nodes(nodes: Sequence[int], per_round: int, seed: int, server_round: int) -> list[int]:
    """This round's clients: all, or a seeded sample of ``per_round`` (same on resume)."""
    if per_round == 0 or per_round >= len(nodes):
        return list(nodes)
    rng = np.random.default_rng((seed, server_round))
    # Pick positions, not ids: node ids are 64-bit and numpy would turn a mix of ids
    # above and below 2**63 into floats.
    chosen = rng.choice(len(nodes), size=per_round, replace=False)
    return sorted(list(nodes)[int(i)] for i in chosen)


def poisson_select(nodes: Sequence[int], rate: float, rng: np.random.Generator) -> list[int]:
    """Each node independently with probability ``rate``. Under central DP ``rng`` must be
    private (:func:`~fedrec.privacy.randomness.private_numpy_rng`): a sample anyone can
    recompute voids the amplification of sampling."""
    draws = rng.random(len(nodes))
    return [n for n, u in zip(sorted(nodes), draws, strict=True) if u < rate]
