from __future__ import annotations

import pytest
import torch

from fedrec.config import build_config
from fedrec.models.catalog_model import build_catalog_model


@pytest.fixture()
def catalog_model(tiny_bert_path, small_split):
    cfg = build_config(
        {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16, "lora-layers": "top-1"}
    )
    torch.manual_seed(0)
    return build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
