"""Shared tiny fixtures: a randomly initialised BERT built in code, small configs."""

from __future__ import annotations

import os
import shutil
import string
import tempfile
from pathlib import Path

import pytest

TINY_LAYERS = 2


def pytest_configure(config: pytest.Config) -> None:
    """The frozen-layer disk cache of the test session (and of every process it starts)
    lives in a folder of its own, removed at the end."""
    if "FEDREC_CACHE_DIR" not in os.environ:
        os.environ["FEDREC_CACHE_DIR"] = tempfile.mkdtemp(prefix="fedrec-test-cache-")
        config.stash[_OWN_CACHE] = os.environ["FEDREC_CACHE_DIR"]


def pytest_unconfigure(config: pytest.Config) -> None:
    if (folder := config.stash.get(_OWN_CACHE, None)) is not None:
        shutil.rmtree(folder, ignore_errors=True)


_OWN_CACHE = pytest.StashKey[str]()


def write_tiny_bert(directory: Path, seed: int = 0) -> Path:
    """Save a tiny random BERT and a character-level WordPiece tokenizer to ``directory``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    chars = string.ascii_lowercase + string.digits
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(chars + string.punctuation) + [f"##{c}" for c in chars]
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=TINY_LAYERS,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_overrides(tiny_bert_path: Path) -> list[str]:
    """--set overrides for a fast run on a small synthetic dataset with the tiny BERT."""
    return [
        f"backbone={tiny_bert_path}",
        "synthetic-users=60",
        "synthetic-items-per-scenario=20",
        "synthetic-interactions-per-user=10",
        "epochs=2",
        "batch-size=64",
        "negatives=32",
        "max-tokens=16",
        "embed-dim=16",
        "ease-l2=50,200",
    ]


@pytest.fixture(scope="session")
def small_split():
    """A small synthetic split: 40 users, 3 scenarios of 12 items, cold items and users."""
    from fedrec.data.split import split_dataset
    from fedrec.data.synthetic import generate_synthetic
    from fedrec.data.validate import validate_dataset

    ds = validate_dataset(
        generate_synthetic(n_users=40, items_per_scenario=12, interactions_per_user=8, seed=3),
        source="synthetic",
    )
    return split_dataset(
        ds, cold_item_fraction=0.2, cold_user_fraction=0.1, cold_user_history=2, seed=3
    )


def nudged_catalog_model(tiny_bert_path, split, **values):
    """The tiny LoRA catalog model over ``split`` (config keys ``values`` added) with
    every trainable tensor nudged off its initial value, so every gradient path (LoRA's
    included) is live."""
    import torch

    from fedrec.config import build_config
    from fedrec.models.catalog_model import build_catalog_model

    base = {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16}
    cfg = build_config({**base, "lora-layers": "top-1", **values})
    torch.manual_seed(0)
    model = build_catalog_model(split, cfg.model, cfg.data, torch.device("cpu"))
    with torch.no_grad():
        for p in model.model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.fixture()
def lora_cm(tiny_bert_path, small_split):
    """:func:`nudged_catalog_model` with the default settings."""
    return nudged_catalog_model(tiny_bert_path, small_split)


def record_encodings(monkeypatch, cm) -> list[tuple[int, ...]]:
    """The shapes of the item indices ``cm`` encodes through LoRA from now on (one entry
    per :meth:`encode_grouped` call), the encoding itself unchanged."""
    shapes: list[tuple[int, ...]] = []
    encode = cm.items.encode_grouped

    def counted(encoder, items):
        shapes.append(tuple(items.shape))
        return encode(encoder, items)

    monkeypatch.setattr(cm.items, "encode_grouped", counted)
    return shapes
