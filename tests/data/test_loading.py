"""Tests of the entry point from a data config to a dataset."""

from __future__ import annotations

import pandas as pd
import pytest

from fedrec.config import DataConfig
from fedrec.data.loading import load_dataset
from fedrec.data.synthetic import generate_synthetic
from fedrec.errors import ConfigError

SMALL = {"synthetic_users": 60, "synthetic_items_per_scenario": 30}


def test_the_synthetic_keys_reach_the_generator() -> None:
    cfg = DataConfig(**SMALL, synthetic_interactions_per_user=12, synthetic_scenario_taste=0.6)
    got = load_dataset(cfg, seed=4)
    want = generate_synthetic(
        n_users=60, items_per_scenario=30, interactions_per_user=12, scenario_taste=0.6, seed=4
    )
    pd.testing.assert_frame_equal(got.interactions, want.interactions)
    shared = load_dataset(DataConfig(**SMALL, synthetic_interactions_per_user=12), seed=4)
    assert not got.interactions["item_id"].equals(shared.interactions["item_id"])


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_scenario_taste_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ConfigError, match="synthetic-scenario-taste"):
        DataConfig(synthetic_scenario_taste=share)


def test_a_scenario_taste_share_of_one_is_allowed() -> None:
    assert DataConfig(synthetic_scenario_taste=1.0).synthetic_scenario_taste == 1.0


def test_a_ranking_longer_than_the_catalog_is_refused_before_anything_runs() -> None:
    from fedrec.config import build_config
    from fedrec.data.loading import prepare_split
    from fedrec.errors import ConfigError

    cfg = build_config({"synthetic-users": 40, "synthetic-items-per-scenario": 10, "k": 100000})
    with pytest.raises(ConfigError, match=r"k=100000 is more than the 30 items"):
        prepare_split(cfg)
