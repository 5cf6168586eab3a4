from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def fed_flat(tiny_bert_path):
    """A flat config for tiny federated runs (tiny BERT, small synthetic data)."""
    from fedrec.config import build_config

    return build_config(
        {
            "backbone": str(tiny_bert_path),
            "synthetic-users": 45,
            "synthetic-items-per-scenario": 12,
            "synthetic-interactions-per-user": 8,
            "negatives": 16,
            "batch-size": 32,
            "max-tokens": 16,
            "embed-dim": 8,
            "ease-l2": "50",
            "baselines": "popularity",
            "num-clients": 3,
            "num-server-rounds": 2,
            "client-cpus": 1.0,
        }
    ).to_flat()


@pytest.fixture(scope="module")
def partition(tmp_path_factory, fed_flat):
    """(config, directory) of a 3-node partition written by ``fedrec data partition``."""
    from fedrec.config import build_config
    from fedrec.data.loading import prepare_split
    from fedrec.federated.node_data import write_partition

    cfg = build_config(fed_flat)
    out = tmp_path_factory.mktemp("partition") / "nodes"
    write_partition(prepare_split(cfg), cfg, out, 3)
    return cfg, out
