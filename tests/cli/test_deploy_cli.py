"""`fedrec data partition` and `fedrec deploy init` through the command line."""

import json

from typer.testing import CliRunner

from fedrec.cli import app

runner = CliRunner()
SMALL = ["--set", "synthetic-users=40", "--set", "synthetic-items-per-scenario=10"]


def test_data_partition_writes_one_directory_per_node_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "parts"
    result = runner.invoke(app, ["data", "partition", "--out", str(out), "--clients", "3", *SMALL])
    assert result.exit_code == 0, result.output
    facts = [json.loads((out / f"node-{i}" / "node.json").read_text()) for i in range(3)]
    assert [f["partition_id"] for f in facts] == [0, 1, 2]
    assert len({f["catalog_sha256"] for f in facts}) == 1  # one public catalog
    again = runner.invoke(app, ["data", "partition", "--out", str(out), "--clients", "3", *SMALL])
    assert again.exit_code != 0 and "not empty" in again.output


def test_data_partition_names_an_impossible_split(tmp_path):
    result = runner.invoke(
        app, ["data", "partition", "--out", str(tmp_path / "p"), "--clients", "500", *SMALL]
    )
    assert result.exit_code != 0 and "num-clients=500" in result.output
    assert not (tmp_path / "p").exists()


def test_deploy_init_writes_commands_and_warns_when_insecure(tmp_path):
    secure = runner.invoke(
        app, ["deploy", "init", "--out", str(tmp_path / "s"), "--host", "10.0.0.5", "--nodes", "2"]
    )
    assert secure.exit_code == 0, secure.output
    text = (tmp_path / "s" / "COMMANDS.md").read_text()
    assert "--enable-supernode-auth" in text and "INSECURE" not in text
    insecure = runner.invoke(
        app,
        ["deploy", "init", "--out", str(tmp_path / "i"), "--host", "10.0.0.5", "--insecure"],
    )
    assert insecure.exit_code == 0, insecure.output
    assert "INSECURE" in insecure.output
