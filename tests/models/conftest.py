from __future__ import annotations

import pytest
import torch

from fedrec.config import build_config
from fedrec.data.split import split_dataset
from fedrec.data.synthetic import generate_synthetic
from fedrec.data.validate import validate_dataset
from fedrec.models.catalog_model import build_catalog_model


@pytest.fixture(scope="module")
def small_split():
    ds = validate_dataset(
        generate_synthetic(n_users=40, items_per_scenario=12, interactions_per_user=8, seed=3),
        source="synthetic",
    )
    return split_dataset(
        ds, cold_item_fraction=0.2, cold_user_fraction=0.1, cold_user_history=2, seed=3
    )


@pytest.fixture()
def catalog_model(tiny_bert_path, small_split):
    cfg = build_config(
        {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16, "lora-layers": "top-1"}
    )
    torch.manual_seed(0)
    return build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
