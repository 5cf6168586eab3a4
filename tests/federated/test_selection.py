"""Which clients take part in a round."""

from __future__ import annotations

import numpy as np

from fedrec.federated.selection import poisson_select, select_nodes
from fedrec.privacy.randomness import private_numpy_rng


def test_poisson_sampling_is_independent_per_node_and_its_count_varies():
    nodes = list(range(1000))
    sizes = [len(poisson_select(nodes, 0.1, private_numpy_rng())) for _ in range(40)]
    assert 90 < np.mean(sizes) < 110 and len(set(sizes)) > 5  # the count varies: Poisson


def test_central_sampling_cannot_be_recomputed_from_the_config():
    """Two draws with everything public equal differ: who took part stays secret."""
    nodes = list(range(1000))
    assert poisson_select(nodes, 0.1, private_numpy_rng()) != poisson_select(
        nodes, 0.1, private_numpy_rng()
    )


def test_plain_sampling_is_seeded_by_round_so_a_resume_samples_alike():
    nodes = list(range(100))
    first = select_nodes(nodes, 10, seed=3, server_round=2)
    assert first == select_nodes(nodes, 10, seed=3, server_round=2)
    assert first != select_nodes(nodes, 10, seed=3, server_round=3)


def test_node_sampling_keeps_64_bit_node_ids_exact():
    nodes = [2**64 - 1 - 7 * i for i in range(30)] + [12345 + i for i in range(30)]
    for rnd in range(1, 20):
        chosen = select_nodes(nodes, 20, seed=0, server_round=rnd)
        assert len(chosen) == 20 and all(isinstance(n, int) and n in nodes for n in chosen)
        assert all(n in nodes for n in poisson_select(nodes, 0.3, private_numpy_rng()))
