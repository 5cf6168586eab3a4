"""The serving bundle holds the released model and the public catalog, nothing private."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from fedrec.config import build_config
from fedrec.errors import FedrecError
from fedrec.serving import Recommender
from fedrec.serving.bundle import export_bundle
from fedrec.serving.model_card import privacy_statement

BUNDLE_FILES = {
    "bundle.json",
    "config.toml",
    "state.safetensors",
    "catalog.parquet",
    "vectors.safetensors",
    "model_card.json",
    "model_card.md",
}


def test_the_bundle_holds_exactly_the_documented_files(bundle_dir, dp_run):
    assert {p.name for p in bundle_dir.iterdir()} == BUNDLE_FILES
    catalog = pd.read_parquet(bundle_dir / "catalog.parquet")
    # the public item fields only: no user, interaction, profile or count column
    assert list(catalog.columns) == ["item_id", "title", "attributes", "scenario", "warm", "added"]
    assert (bundle_dir / "state.safetensors").read_bytes() == (
        dp_run / "state.safetensors"
    ).read_bytes()
    vectors = load_file(str(bundle_dir / "vectors.safetensors"))
    assert vectors["vectors"].shape[0] == len(catalog) == vectors["offsets"].shape[0]
    assert torch.allclose(vectors["vectors"].norm(dim=-1), torch.ones(len(catalog)), atol=1e-5)


def test_no_user_data_is_in_the_bundle(bundle_dir, dp_run):
    from fedrec.config import load_toml
    from fedrec.data.loading import load_dataset

    cfg = build_config(load_toml(dp_run / "config.toml"))
    ds = load_dataset(cfg.data, seed=cfg.train.seed)
    blob = b"".join(p.read_bytes() for p in bundle_dir.iterdir())
    users = ds.interactions["user_id"].astype(str).unique()
    assert not [u for u in users if len(u) > 3 and u.encode() in blob]
    if ds.profiles is not None:
        texts = [t for t in ds.profiles["profile"].astype(str) if len(t) > 20]
        assert texts and not [t for t in texts if t.encode() in blob]


def test_the_model_card_states_the_audited_guarantee(bundle_dir):
    card = json.loads((bundle_dir / "model_card.json").read_text())
    privacy = card["privacy"]
    assert privacy["mode"] == "local" and privacy["unit"] == "user"
    assert privacy["guarantee"] == "audited"
    assert privacy["epsilon"] == pytest.approx(8.0, rel=0.02)
    assert 0 < privacy["delta"] <= 1e-5
    assert card["metrics"]["test"]["ndcg@10"] is not None
    markdown = (bundle_dir / "model_card.md").read_text()
    assert "per user" in markdown and "not covered by the guarantee" in markdown


def test_a_run_without_dp_has_no_formal_guarantee(tmp_path):
    cfg = build_config({})
    assert privacy_statement(cfg, tmp_path)["guarantee"] == "no formal guarantee"


def test_export_never_overwrites_without_being_asked(dp_run, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FedrecError, match="--overwrite"):
        export_bundle(dp_run, out)
    assert (out / "keep.txt").read_text() == "mine"


def test_export_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FedrecError):
        export_bundle(tmp_path, tmp_path / "out")


def test_serving_scores_are_the_models_scores(dp_run, recommender):
    """The bundle's precomputed vectors and the serving user tower give exactly the
    scores the trained two-tower model gives (history and profile)."""
    from fedrec.config import load_toml
    from fedrec.data.loading import load_dataset
    from fedrec.data.split import split_dataset
    from fedrec.device import pick_device
    from fedrec.models.catalog_model import build_catalog_model
    from fedrec.models.encoder import TokenizedTexts
    from fedrec.models.state import load_trainable_state

    cfg = build_config(load_toml(dp_run / "config.toml"))
    ds = load_dataset(cfg.data, seed=cfg.train.seed)
    split = split_dataset(
        ds,
        cold_item_fraction=cfg.data.cold_item_fraction,
        cold_user_fraction=cfg.data.cold_user_fraction,
        cold_user_history=cfg.data.cold_user_history,
        seed=cfg.train.seed,
    )
    cm = build_catalog_model(split, cfg.model, cfg.data, pick_device("cpu", 1))
    load_trainable_state(cm.model, load_file(str(dp_run / "state.safetensors")))
    cm.model.eval()
    cm.mark_stale()
    cm.ensure_fresh()
    rows, profile = [3, 17, 5], "outdoor hiking fan who reads the news"
    with torch.no_grad():
        tokens = TokenizedTexts.build([profile], recommender.tokenizer, cfg.model.max_tokens)
        profile_text = tokens.encode_all(cm.model.encoder, batch_size=8).float()
        history = torch.tensor([rows])
        user = cm.model.user_vectors(cm.item_text[history], history, profile_text)
        index = torch.arange(cm.n_items)
        expected = cm.model.scores(user, cm.model.item_vectors(cm.item_text, index), index)[0]
    ids = [str(recommender.items.item_id[r]) for r in rows]
    served, _ = recommender._user([recommender.row[i] for i in ids], profile)
    got = recommender.index.scores(served)[: cm.n_items]
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


def test_a_run_directory_is_exported_on_first_use(dp_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(dp_run, run, ignore=shutil.ignore_patterns("serving"))
    rec = Recommender.load(run)
    assert (run / "serving" / "bundle.json").is_file()
    assert len(rec.items) == len(pd.read_parquet(run / "serving" / "catalog.parquet"))


def test_export_never_deletes_the_run_or_files_that_are_not_a_bundle(dp_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(dp_run, run, ignore=shutil.ignore_patterns("serving"))
    before = sorted(p.name for p in run.iterdir())
    for out in (run, tmp_path):  # the run itself, and a folder holding it
        with pytest.raises(FedrecError, match="outside the run"):
            export_bundle(run, out, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(FedrecError, match="replaces only a bundle"):
        export_bundle(run, mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "mine"
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FedrecError, match="is a file"):
        export_bundle(run, tmp_path / "a-file")


def test_a_failed_export_leaves_the_old_bundle_whole(dp_run, tmp_path, monkeypatch):
    from fedrec.serving import bundle

    out = export_bundle(dp_run, tmp_path / "bundle")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bundle, "model_card", broken)
    with pytest.raises(OSError, match="disk full"):
        export_bundle(dp_run, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # nothing half-built is left


def test_items_added_while_serving_are_encoded_again_when_the_run_changes(dp_run, tmp_path):
    """A re-export after the run's state changed keeps the added items, with vectors from
    the new model (vectors of the old one rank in another space)."""
    import os
    import shutil

    from safetensors.torch import save_file

    run = tmp_path / "run"
    shutil.copytree(dp_run, run, ignore=shutil.ignore_patterns("serving"))
    new = {"item_id": "new-bowl", "title": "handmade ceramic tea bowls", "scenario": "crafts"}
    Recommender.load(run).add_items([new])
    state = load_file(str(run / "state.safetensors"))
    torch.manual_seed(1)
    save_file(
        {k: v + 0.5 * torch.randn_like(v) for k, v in state.items()}, str(run / "state.safetensors")
    )
    later = (run / "serving" / "bundle.json").stat().st_mtime + 10
    os.utime(run / "state.safetensors", (later, later))
    rec = Recommender.load(run)
    row = rec.row["new-bowl"]
    fresh = tmp_path / "fresh"
    export_bundle(run, fresh)
    expected = Recommender.load(fresh)
    expected.add_items([new])
    np.testing.assert_allclose(
        rec.index.vectors[row], expected.index.vectors[expected.row["new-bowl"]], atol=1e-5
    )


def test_items_added_before_whose_ids_the_catalog_now_holds_keep_the_catalogs_entry(
    dp_run, tmp_path
):
    catalog = pd.read_parquet(export_bundle(dp_run, tmp_path / "first") / "catalog.parquet")
    taken = str(catalog["item_id"].iloc[0])
    added = pd.DataFrame(
        [
            {"item_id": taken, "title": "an added item with a taken id", "scenario": "crafts"},
            {"item_id": "new-bowl", "title": "handmade ceramic tea bowls", "scenario": "crafts"},
        ]
    )
    out = export_bundle(dp_run, tmp_path / "again", added=added)
    rec = Recommender.load(out)
    assert rec.item(taken)["title"] == str(catalog["title"].iloc[0])
    assert rec.item("new-bowl")["added"] is True
    assert list(pd.read_parquet(out / "added_items.parquet")["item_id"]) == ["new-bowl"]
