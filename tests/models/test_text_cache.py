"""The frozen-layer disk cache: shared across processes, never stale, never trusted blindly."""

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


def test_a_second_build_reads_what_the_first_computed(tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(tmp_path))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder)
    assert len(_entries(tmp_path)) == 1
    computed = texts.lower_states.clone()

    again, encoder2 = _texts_and_encoder(tiny_bert_path)
    calls = []
    monkeypatch.setattr(TokenizedTexts, "_compute_lower", lambda *a: calls.append(a))
    again.cache_lower(encoder2)
    assert calls == []  # read from disk, not recomputed
    assert torch.equal(again.lower_states, computed)


def test_other_weights_or_texts_never_read_an_entry(tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(tmp_path / "cache"))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder)
    other_bert = write_tiny_bert(tmp_path / "other-bert", seed=1)  # same shapes, new weights
    other, other_encoder = _texts_and_encoder(other_bert)
    other.cache_lower(other_encoder)
    assert not torch.allclose(other.lower_states, texts.lower_states)
    assert torch.allclose(
        other.lower_states, other._compute_lower(other_encoder, 256, False), atol=1e-6
    )
    fewer, encoder3 = _texts_and_encoder(tiny_bert_path)
    fewer.ids, fewer.mask = fewer.ids[:2], fewer.mask[:2]
    fewer.cache_lower(encoder3)
    assert len(_entries(tmp_path / "cache")) == 3


def test_a_torn_entry_is_recomputed_and_replaced(tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(tmp_path))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder)
    (entry,) = _entries(tmp_path)
    good = texts.lower_states.clone()
    entry.write_bytes(entry.read_bytes()[:100])
    again, encoder2 = _texts_and_encoder(tiny_bert_path)
    again.cache_lower(encoder2)
    assert torch.equal(again.lower_states, good)
    assert text_cache.load_states(entry.stem, tuple(good.shape)) is not None


def test_the_cache_can_be_turned_off(tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDREC_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder)
    assert texts.lower_states is not None
    assert list(tmp_path.rglob("*.safetensors")) == []


def test_an_unwritable_cache_is_skipped(tiny_bert_path, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FEDREC_CACHE_DIR", str(blocker / "cache"))
    texts, encoder = _texts_and_encoder(tiny_bert_path)
    texts.cache_lower(encoder)  # warns, goes on
    assert texts.lower_states is not None
