"""The frozen-layer disk cache: shared across processes, never stale, never trusted blindly."""

import pytest
import torch

from fedrec.config import build_config
from fedrec.models import text_cache
from fedrec.models.backbone import load_backbone
from fedrec.models.encoder import TextEncoder, TokenizedTexts
from tests.conftest import write_tiny_bert

TEXTS = ["trail running shoes", "midnight jazz sessions, mellow", "city council votes", "a"]


def _texts_and_encoder(path):
    bert, tok = load_backbone(str(path))
    encoder = TextEncoder(bert, build_config({"backbone": str(path)}).model)
    return TokenizedTexts.build(TEXTS, tok, max_tokens=16), encoder


def _entries(folder):
    return sorted(folder.glob("*.safetensors"))


@pytest.fixture(autouse=True)
def _new_process():
    """Each test starts as a fresh process would: nothing remembered in memory."""
    text_cache._MEMORY.clear()
    yield
    text_cache._MEMORY.clear()


def test_a_second_build_reads_what_the_first_computed(tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(tmp_path))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder, public=True)
    assert len(_entries(tmp_path)) == 1
    computed = texts.lower_states.clone()

    text_cache._MEMORY.clear()  # another process
    again, encoder2 = _texts_and_encoder(tiny_bert_path)
    calls = []
    monkeypatch.setattr(TokenizedTexts, "_compute_lower", lambda *a: calls.append(a))
    again.cache_lower(encoder2, public=True)
    assert calls == []  # read from disk, not recomputed
    assert torch.equal(again.lower_states, computed)


def test_other_weights_or_texts_never_read_an_entry(tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(tmp_path / "cache"))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder, public=True)
    other_bert = write_tiny_bert(tmp_path / "other-bert", seed=1)  # same shapes, new weights
    other, other_encoder = _texts_and_encoder(other_bert)
    other.cache_lower(other_encoder, public=True)
    assert not torch.allclose(other.lower_states, texts.lower_states)
    assert torch.allclose(
        other.lower_states, other._compute_lower(other_encoder, 256, False), atol=1e-6
    )
    fewer, encoder3 = _texts_and_encoder(tiny_bert_path)
    fewer.ids, fewer.mask = fewer.ids[:2], fewer.mask[:2]
    fewer.cache_lower(encoder3, public=True)
    assert len(_entries(tmp_path / "cache")) == 3


def test_a_torn_entry_is_recomputed_and_replaced(tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(tmp_path))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder, public=True)
    (entry,) = _entries(tmp_path)
    good = texts.lower_states.clone()
    entry.write_bytes(entry.read_bytes()[:100])
    text_cache._MEMORY.clear()  # another process
    again, encoder2 = _texts_and_encoder(tiny_bert_path)
    again.cache_lower(encoder2, public=True)
    assert torch.equal(again.lower_states, good)
    assert text_cache.load_states(entry.stem, tuple(good.shape)) is not None


def test_the_cache_can_be_turned_off(tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDREC_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder, public=True)
    assert texts.lower_states is not None
    assert list(tmp_path.rglob("*.safetensors")) == []


def test_an_unwritable_cache_is_skipped(tiny_bert_path, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(blocker / "cache"))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder, public=True)  # warns, goes on
    assert texts.lower_states is not None


def test_profiles_never_reach_the_disk(tiny_bert_path, small_split, tmp_path, monkeypatch):
    """Only the public catalog is cached on disk; users' profile texts stay in memory."""
    from fedrec.models.catalog_model import build_catalog_model

    folder = tmp_path / "cache"
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(folder))
    cfg = build_config({"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16})
    cm = build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
    assert cm.profiles is not None and cm.profiles.lower_states is not None
    (entry,) = _entries(folder)  # the catalog's, and nothing else
    assert folder.stat().st_mode & 0o777 == 0o700  # the cache folder is the user's own
    assert torch.equal(
        text_cache.load_states(entry.stem, tuple(cm.items.lower_states.shape)),
        cm.items.lower_states,
    )
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder)  # not public
    assert texts.lower_states is not None and len(_entries(folder)) == 1


def test_models_of_one_process_share_their_states(tiny_bert_path, tmp_path, monkeypatch):
    """The server's and the clients' models of an inline simulation compute the frozen
    states once, profiles included (which never go to disk)."""
    monkeypatch.setenv("FEDREC_CACHE_DIR", "off")
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder)
    again, encoder2 = _texts_and_encoder(tiny_bert_path)
    calls = []
    monkeypatch.setattr(TokenizedTexts, "_compute_lower", lambda *a: calls.append(a))
    again.cache_lower(encoder2)
    assert calls == [] and torch.equal(again.lower_states, texts.lower_states)
