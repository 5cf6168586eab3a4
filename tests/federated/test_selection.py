"""Which clients take part in a round."""

from __future__ import annotations

import numpy as np

from fedrec.federated.selection import poisson_select, select_nodes


def test_poisson_sampling_is_seeded_and_independent_per_node():
    nodes = list(range(1000))
    first = poisson_select(nodes, 0.1, seed=3, server_round=2)
    assert first == poisson_select(nodes, 0.1, seed=3, server_round=2)
    assert first != poisson_select(nodes, 0.1, seed=3, server_round=3)
    sizes = [len(poisson_select(nodes, 0.1, seed=3, server_round=r)) for r in range(1, 41)]
    assert 90 < np.mean(sizes) < 110 and len(set(sizes)) > 5  # the count varies: Poisson


def test_node_sampling_keeps_64_bit_node_ids_exact():
    nodes = [2**64 - 1 - 7 * i for i in range(30)] + [12345 + i for i in range(30)]
    for rnd in range(1, 20):
        chosen = select_nodes(nodes, 20, seed=0, server_round=rnd)
        assert len(chosen) == 20 and all(isinstance(n, int) and n in nodes for n in chosen)
        assert all(n in nodes for n in poisson_select(nodes, 0.3, seed=0, server_round=rnd))
