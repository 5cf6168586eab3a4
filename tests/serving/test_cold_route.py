"""A bundle with a cold-start route: requests knowing few items go to a second model."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fedrec.cli import app
from fedrec.errors import FedrecError
from fedrec.serving import Recommender
from fedrec.serving.bundle import export_bundle
from fedrec.serving.http import create_app
from fedrec.serving.model_card import composed_privacy
from fedrec.serving.new_items import checked
from tests.serving.conftest import CLICKS, DP, sets, train_run


@pytest.fixture(scope="module")
def cold_alone(cold_run, tmp_path_factory) -> Recommender:
    return Recommender.load(export_bundle(cold_run, tmp_path_factory.mktemp("cold") / "b"))


def _ranked(result):
    return [(i.item_id, round(i.score, 5)) for i in result.items]


def test_a_request_knowing_few_items_is_answered_by_the_cold_start_model(
    routed, cold_alone, recommender
):
    rec = Recommender.load(routed)
    ids = [str(i) for i in rec.items.item_id[: CLICKS + 1]]
    few = [*ids[:CLICKS], "not-an-item", ids[0]]  # unknown and repeated ids do not count
    got = rec.recommend(history=few, k=5)
    assert got.served_by == "cold-start"
    assert _ranked(got) == _ranked(cold_alone.recommend(history=few, k=5))
    assert _ranked(got) != _ranked(recommender.recommend(history=few, k=5))
    assert rec.recommend(profile="a quiet reader", k=3).served_by == "cold-start"
    many = rec.recommend(history=ids, k=5)
    assert many.served_by == "main"
    assert _ranked(many) == _ranked(recommender.recommend(history=ids, k=5))


def test_items_added_reach_both_models_and_survive_a_restart(
    routed, cold_alone, recommender, tmp_path
):
    bundle = Path(shutil.copytree(routed, tmp_path / "bundle"))
    rec = Recommender.load(bundle)
    item = {"item_id": "new-kettle", "title": "a copper kettle", "scenario": "kitchen"}
    assert rec.add_items([item]) == 1
    again = Recommender.load(bundle)
    assert "new-kettle" in again.row and "new-kettle" in again.cold.row
    # each model encodes it with its own item tower: as each model alone would
    kettle = checked([item], {})
    main_vec = again.index.vectors[again.row["new-kettle"]]
    cold_vec = again.cold.index.vectors[again.cold.row["new-kettle"]]
    assert np.allclose(main_vec, recommender._encoded(kettle)[0], atol=1e-5)
    assert np.allclose(cold_vec, cold_alone._encoded(kettle)[0], atol=1e-5)
    assert not np.allclose(main_vec, cold_vec, atol=1e-5)
    with pytest.raises(FedrecError, match="already in the catalog"):
        again.add_items([item])
    # an add that reached one model only (cut short) is completed on the next start
    pan = checked([{"item_id": "new-pan", "title": "a steel pan"}], again.row)
    with again._lock:
        again._keep(pan, again._encoded(pan))
    assert "new-pan" not in again.cold.row
    assert "new-pan" in Recommender.load(bundle).cold.row


def test_an_add_whose_main_write_fails_is_served_and_completed_by_a_retry(
    routed, tmp_path, monkeypatch
):
    from fedrec.serving import bundle as module

    rec = Recommender.load(Path(shutil.copytree(routed, tmp_path / "bundle")))
    write, item = module.write_added, {"item_id": "new-lamp", "title": "a brass desk lamp"}

    def full_disk_for_main(path, items, vectors):
        if path == rec.path:
            raise OSError("No space left on device")
        write(path, items, vectors)

    monkeypatch.setattr(module, "write_added", full_disk_for_main)
    with pytest.raises(OSError):
        rec.add_items([item])
    assert "new-lamp" in rec.cold.row and "new-lamp" not in rec.row  # the cold model first
    assert rec.recommend(history=["new-lamp"], k=2).served_by == "cold-start"
    monkeypatch.setattr(module, "write_added", write)
    with pytest.raises(FedrecError, match="held by the cold-start model alone"):
        rec.add_items([item | {"title": "a steel kettle"}])  # another item under that id
    assert rec.add_items([item]) == 1
    assert "new-lamp" in rec.row and list(rec.cold.items.item_id).count("new-lamp") == 1


def test_an_overwriting_export_keeps_the_items_added_to_either_model(
    routed, dp_run, cold_run, tmp_path
):
    bundle = Path(shutil.copytree(routed, tmp_path / "bundle"))
    rec = Recommender.load(bundle)
    rec.add_items([{"item_id": "kept-1", "title": "a linen apron", "scenario": "kitchen"}])
    lamp = checked([{"item_id": "kept-2", "title": "a brass lamp"}], rec.cold.row)
    with rec.cold._lock:  # an add cut short: the cold-start model alone
        rec.cold._keep(lamp, rec.cold._encoded(lamp))
    result = CliRunner().invoke(
        app,
        ["export", str(dp_run), "--out", str(bundle), "--overwrite", "--cold-run", str(cold_run)],
    )
    assert result.exit_code == 0, result.output
    again = Recommender.load(bundle)
    for item_id in ("kept-1", "kept-2"):
        assert item_id in again.row and item_id in again.cold.row
    (bundle / "added_items.parquet").write_bytes(b"not parquet")
    with pytest.raises(FedrecError, match=r"cannot be read .*Move it aside"):
        export_bundle(dp_run, bundle, overwrite=True)
    assert (bundle / "added_items.parquet").read_bytes() == b"not parquet"  # left as it was
    assert (bundle / "cold" / "bundle.json").is_file()
    with pytest.raises(FedrecError, match="sits inside the cold-start run"):
        export_bundle(dp_run, cold_run / "serving", cold_run=cold_run)


def test_the_card_composes_the_two_guarantees(routed, dp_run, cold_run):
    card = json.loads((routed / "model_card.json").read_text())
    main, cold = card["privacy"]["models"]["main"], card["privacy"]["models"]["cold_start"]
    assert main["epsilon"] == pytest.approx(8.0, rel=0.02)
    assert cold["epsilon"] == pytest.approx(4.0, rel=0.02)
    privacy = card["privacy"]
    assert privacy["epsilon"] == pytest.approx(main["epsilon"] + cold["epsilon"])
    assert privacy["delta"] == pytest.approx(main["delta"] + cold["delta"])
    assert privacy["unit"] == "user" and privacy["guarantee"] == "audited"
    assert card["cold_route"]["max_clicks"] == CLICKS
    text = (routed / "model_card.md").read_text()
    assert "## Cold-start model" in text and f"{privacy['epsilon']:.3g}" in text
    served = TestClient(create_app(Recommender.load(routed)))
    assert served.get("/model").json()["privacy"]["epsilon"] == privacy["epsilon"]
    answer = served.post("/recommend", json={"history": [], "k": 2}).json()
    assert answer["served_by"] == "cold-start"


def test_guarantees_that_cannot_be_composed_are_not_added():
    def audited(unit: str, eps: float) -> dict:
        return {
            "mode": "local",
            "unit": unit,
            "epsilon": eps,
            "delta": 1e-5,
            "guarantee": "audited",
            "statement": "s.",
        }

    other = composed_privacy(audited("user", 2.0), audited("interaction", 1.0), 5)
    assert other["epsilon"] is None and other["guarantee"] == "not composed"
    off = composed_privacy(
        audited("user", 2.0),
        {"mode": "off", "guarantee": "no formal guarantee", "statement": "none."},
        5,
    )
    assert off["guarantee"] == "no formal guarantee" and "cold-start model" in off["statement"]
    failed = composed_privacy(
        audited("user", 2.0), audited("user", 1.0) | {"guarantee": "audit FAILED (1 findings)"}, 5
    )
    assert failed["epsilon"] is None and failed["guarantee"] == "not composed"
    assert "cold-start model's guarantee is 'audit FAILED" in failed["statement"]
    mixed = composed_privacy(audited("user", 2.0), audited("user", 1.0) | {"mode": "central"}, 5)
    assert mixed["epsilon"] is None and "different adversaries" in mixed["statement"]
    # one run's client may hold many of the other's: no per-client sum under central DP
    central = {"mode": "central", "unit": "client", "epsilon_unsampled": 5.0}
    both = composed_privacy(audited("x", 2.0) | central, audited("x", 1.0) | central, 5)
    assert both["epsilon"] is None and "need not hold the same users" in both["statement"]


def test_a_scenario_partitioned_card_states_the_per_user_figure_across_silos(
    tmp_path, tiny_overrides
):
    """With partition=scenario one user's data sits in every silo: the card's ε per user
    is the silos composed, not one silo's."""
    from fedrec.config import build_config, load_toml
    from fedrec.serving.model_card import privacy_statement

    out = tmp_path / "fed"
    flags = ["partition=scenario", "num-clients=3", "num-server-rounds=2", "target-epsilon=4"]
    result = CliRunner().invoke(
        app, ["simulate", "--quiet", "--out", str(out), *sets([*tiny_overrides, *DP, *flags])]
    )
    assert result.exit_code == 0, result.output
    privacy = privacy_statement(build_config(load_toml(out / "config.toml")), out)
    assert privacy["epsilon_per_silo"] == pytest.approx(4.0, rel=0.02)
    assert privacy["epsilon"] > 1.5 * privacy["epsilon_per_silo"]  # three silos composed
    assert privacy["delta"] == pytest.approx(3 * 1e-5, rel=0.5)


def test_a_cold_run_over_another_catalog_or_holding_the_bundle_is_refused(
    dp_run, cold_run, tmp_path, tmp_path_factory, tiny_overrides
):
    other = train_run(tmp_path_factory, tiny_overrides, "other", "synthetic-items-per-scenario=15")
    with pytest.raises(FedrecError, match="another catalog"):
        export_bundle(dp_run, tmp_path / "b", cold_run=other)
    assert not (tmp_path / "b").exists()
    with pytest.raises(FedrecError, match="is, holds or sits inside the cold-start run"):
        export_bundle(dp_run, cold_run, cold_run=cold_run, overwrite=True)
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(dp_run),
            "--out",
            str(tmp_path / "c"),
            "--cold-run",
            str(cold_run),
            "--cold-clicks",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "c" / "bundle.json").read_text())["cold_route"] == {
        "max_clicks": 3,
        "run": str(cold_run.resolve()),
    }
    answer = CliRunner().invoke(app, ["recommend", str(tmp_path / "c"), "--k", "2"])
    assert answer.exit_code == 0 and "cold-start model" in answer.output


def test_a_cold_run_that_is_a_bundle_the_main_run_or_over_other_scenarios_is_refused(
    dp_run, cold_run, routed, tmp_path, monkeypatch
):
    with pytest.raises(FedrecError, match="serving bundle, not a run"):
        export_bundle(dp_run, tmp_path / "a", cold_run=routed / "cold")
    with pytest.raises(FedrecError, match="is the main run"):
        export_bundle(dp_run, tmp_path / "a", cold_run=dp_run)
    alone = CliRunner().invoke(
        app, ["export", str(dp_run), "--out", str(tmp_path / "a"), "--cold-clicks", "3"]
    )
    assert alone.exit_code != 0 and "--cold-clicks needs --cold-run" in alone.output
    # the same item ids under other scenarios (e.g. another scenario-field) are another catalog
    from fedrec.serving import bundle as module

    write = module._write_bundle

    def scenarios_dropped(run, out):
        write(run, out)
        if out.name == "cold":
            items = pd.read_parquet(out / "catalog.parquet").assign(scenario="default")
            items.to_parquet(out / "catalog.parquet")

    monkeypatch.setattr(module, "_write_bundle", scenarios_dropped)
    with pytest.raises(FedrecError, match="scenario differ"):
        export_bundle(dp_run, tmp_path / "a", cold_run=cold_run)
    assert not (tmp_path / "a").exists()


def test_a_run_served_with_a_cold_start_model_is_not_re_exported_without_it(
    dp_run, cold_run, tmp_path
):
    run = Path(shutil.copytree(dp_run, tmp_path / "run"))
    export_bundle(run, run / "serving", cold_run=cold_run)
    assert Recommender.load(run).cold is not None
    later = time.time() + 5
    os.utime(run / "state.safetensors", (later, later))  # a newer main model
    with pytest.raises(FedrecError, match="a newer model was trained since"):
        Recommender.load(run)
    assert (run / "serving" / "cold" / "bundle.json").is_file()


def test_a_newer_cold_start_model_is_noticed_by_the_run_it_serves(dp_run, cold_run, tmp_path):
    run = Path(shutil.copytree(dp_run, tmp_path / "run"))
    cold = Path(shutil.copytree(cold_run, tmp_path / "cold"))
    export_bundle(run, run / "serving", cold_run=cold)
    later = time.time() + 5
    os.utime(cold / "state.safetensors", (later, later))  # the cold-start run trained again
    with pytest.raises(FedrecError, match=f"cold-start model \\({cold.resolve()}\\)"):
        Recommender.load(run)


def test_overwriting_a_routed_bundle_keeps_a_cold_folder_that_is_not_a_bundles(
    routed, dp_run, tmp_path
):
    bundle = Path(shutil.copytree(routed, tmp_path / "bundle"))
    assert export_bundle(dp_run, bundle, overwrite=True) == bundle  # routed -> plain
    assert not (bundle / "cold").exists()
    (bundle / "cold").mkdir()
    (bundle / "cold" / "notes.txt").write_text("mine")
    with pytest.raises(FedrecError, match="not a serving bundle's"):
        export_bundle(dp_run, bundle, overwrite=True)
    assert (bundle / "cold" / "notes.txt").read_text() == "mine"


def test_a_cold_start_run_whose_ledger_was_forged_adds_no_figure_to_the_pair(
    dp_run, cold_run, tmp_path
):
    """A forger marks the cold-start run's last spend as drawn from a replayable seed and
    rebuilds the hash chain: its audit fails, so the pair states no composed ε."""
    from fedrec.privacy.ledger import LEDGER, line_hash

    forged = Path(shutil.copytree(cold_run, tmp_path / "cold"))
    entries = [json.loads(line) for line in (forged / LEDGER).read_text().splitlines()]
    entries[-1]["randomness"] = "seeded"
    prev, lines = "", []
    for entry in entries:
        entry["prev"] = prev
        lines.append(json.dumps(entry))
        prev = line_hash(lines[-1])
    (forged / LEDGER).write_text("\n".join(lines) + "\n")
    bundle = export_bundle(dp_run, tmp_path / "bundle", cold_run=forged)
    privacy = json.loads((bundle / "model_card.json").read_text())["privacy"]
    assert privacy["models"]["cold_start"]["guarantee"].startswith("audit FAILED")
    assert privacy["epsilon"] is None and privacy["guarantee"] == "not composed"
    assert "cold-start model's guarantee is 'audit FAILED" in privacy["statement"]
