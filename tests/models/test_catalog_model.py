"""The catalog model's text vectors: recomputed exactly when the text tower changes."""

import numpy as np
import torch

from fedrec.models.catalog_model import CatalogModel
from fedrec.models.state import load_trainable_state, trainable_state


def _count_refreshes(cm, monkeypatch):
    calls = []
    original = CatalogModel.refresh

    def counted(self, progress=False):
        calls.append(1)
        return original(self, progress)

    monkeypatch.setattr(CatalogModel, "refresh", counted)
    return calls


def _fresh_items(cm):
    with torch.no_grad():
        return cm.items.encode_all(cm.model.encoder)


def test_the_same_state_again_costs_no_refresh(catalog_model, monkeypatch):
    cm = catalog_model
    cm.ensure_fresh()
    calls = _count_refreshes(cm, monkeypatch)
    state = trainable_state(cm.model)
    for _ in range(3):  # every client of a round loads the same global state
        load_trainable_state(cm.model, state)
        cm.mark_stale()
        cm.ensure_fresh()
    assert calls == []
    heads_only = dict(state)
    heads_only["item_head.weight"] = state["item_head.weight"] + 1.0  # not the text tower
    load_trainable_state(cm.model, heads_only)
    cm.mark_stale()
    cm.ensure_fresh()
    assert calls == []


def test_a_moved_text_tower_is_recomputed(catalog_model, monkeypatch):
    cm = catalog_model
    cm.ensure_fresh()
    before = cm.item_text.clone()
    calls = _count_refreshes(cm, monkeypatch)
    state = trainable_state(cm.model)
    lora_b = next(k for k in state if "lora_B" in k)
    state[lora_b] = torch.randn_like(state[lora_b])
    load_trainable_state(cm.model, state)
    cm.mark_stale()
    cm.ensure_fresh()
    assert calls == [1]
    assert not torch.allclose(cm.item_text, before)
    assert torch.allclose(cm.item_text, _fresh_items(cm), atol=1e-6)


def test_profiles_are_encoded_on_demand_and_equal_a_full_encoding(catalog_model):
    cm = catalog_model
    state = trainable_state(cm.model)
    lora_b = next(k for k in state if "lora_B" in k)
    state[lora_b] = torch.randn_like(state[lora_b])
    load_trainable_state(cm.model, state)
    cm.mark_stale()
    users = torch.as_tensor(np.flatnonzero(cm.profile_rows.numpy() >= 0)[:3])
    cm.ensure_fresh(users=users.numpy())
    assert int(cm._profile_ready.sum()) == 3  # only the users asked for
    some = cm.profile_vectors(users)
    with torch.no_grad():
        full = cm.profiles.encode_all(cm.model.encoder)
    assert torch.allclose(some, full[cm.profile_rows[users]], atol=1e-6)
    assert torch.allclose(cm.profile_text, full, atol=1e-6)
    no_profile = np.flatnonzero(cm.profile_rows.numpy() < 0)
    if len(no_profile):
        assert torch.count_nonzero(cm.profile_vectors(torch.as_tensor(no_profile[:1]))) == 0
