"""fedrec export and fedrec recommend, through the command line."""

import json

from typer.testing import CliRunner

from fedrec.cli import app

runner = CliRunner()


def test_export_then_recommend_as_json(dp_run, tmp_path, recommender):
    out = tmp_path / "bundle"
    exported = runner.invoke(app, ["export", str(dp_run), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert (out / "model_card.md").is_file()
    again = runner.invoke(app, ["export", str(dp_run), "--out", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output
    history = ",".join(str(i) for i in recommender.items.item_id[:2])
    shown = runner.invoke(app, ["recommend", str(out), "--history", history, "--k", "4", "--json"])
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.stdout)
    assert len(result["items"]) == 4 and result["cold_start"] is False
    assert not {i["item_id"] for i in result["items"]} & set(history.split(","))
    expected = recommender.recommend(history=history.split(","), k=4)
    assert [i["item_id"] for i in result["items"]] == [i.item_id for i in expected.items]
    varied = runner.invoke(
        app,
        ["recommend", str(out), "--history", history, "--k", "4", "--diversity", "0.8", "--json"],
    )
    assert varied.exit_code == 0, varied.output
    want = recommender.recommend(history=history.split(","), k=4, diversity=0.8)
    assert [i["item_id"] for i in json.loads(varied.stdout)["items"]] == [
        i.item_id for i in want.items
    ]


def test_recommend_prints_a_table_and_names_bad_input(bundle_dir):
    table = runner.invoke(app, ["recommend", str(bundle_dir), "--profile", "jazz", "--k", "3"])
    assert table.exit_code == 0, table.output
    assert "recommendations" in table.output and "profile" in table.output
    bad = runner.invoke(app, ["recommend", str(bundle_dir), "--scenario", "cooking"])
    assert bad.exit_code != 0 and "use one of" in bad.output
    bad = runner.invoke(app, ["recommend", str(bundle_dir), "--diversity", "3"])
    assert bad.exit_code != 0 and "diversity=3.0: use a weight in [0, 1]" in bad.output
    nowhere = runner.invoke(app, ["recommend", str(bundle_dir.parent / "missing")])
    assert nowhere.exit_code != 0 and "neither a serving bundle nor a run" in nowhere.output


def test_ids_and_titles_that_look_like_markup_are_printed_as_they_are(fresh_bundle):
    from fedrec.serving import Recommender

    odd = {"item_id": "[b]odd", "title": "Rock [/] anthem [red]", "scenario": "music"}
    Recommender.load(fresh_bundle).add_items([odd])
    shown = runner.invoke(
        app,
        ["recommend", str(fresh_bundle), "--profile", "Rock anthem", "--history", "[/oops]"],
    )
    assert shown.exit_code == 0 and "[/oops]" in shown.output, shown.output
    shown = runner.invoke(
        app, ["recommend", str(fresh_bundle), "--profile", "Rock anthem", "--k", "200"]
    )
    assert shown.exit_code == 0, shown.output
    assert "[b]odd" in shown.output
