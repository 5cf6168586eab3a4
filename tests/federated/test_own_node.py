"""A node's own files become its node directory, against the federation's catalog."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from fedrec.cli import app
from fedrec.data.schema import RecDataset
from fedrec.data.validate import validate_dataset
from fedrec.errors import ConfigError, DataError
from fedrec.federated.client import ClientRuntime
from fedrec.federated.node_data import NodeDirSource, read_node
from fedrec.federated.own_node import write_own_node
from fedrec.models.state import trainable_state


def _own_rows(node_path):
    """What node ``node_path`` would hold in its own files: its training rows, each
    validation target after them, and its profiles."""
    rows = pd.read_parquet(node_path / "interactions.parquet")
    valid = pd.read_parquet(node_path / "valid.parquet")
    last = rows.groupby("user_id")["timestamp"].max()
    targets = pd.DataFrame(
        {
            "user_id": valid["user_id"],
            "item_id": [r[0] for r in valid["relevant"]],
            "timestamp": last.loc[valid["user_id"]].to_numpy() + 1,
        }
    )
    profiles = pd.read_parquet(node_path / "profiles.parquet")
    return pd.concat([rows, targets], ignore_index=True), profiles


def _dataset(rows, profiles=None):
    items = pd.DataFrame({"item_id": pd.unique(rows["item_id"])})
    items = items.assign(title="", attributes="", scenario="any")
    return validate_dataset(RecDataset("own", items, rows, profiles), source="own files")


def test_a_node_built_from_its_own_rows_trains_what_the_partitioned_node_trains(
    tmp_path, partition
):
    cfg, out = partition
    rows, profiles = _own_rows(out / "node-1")
    built = write_own_node(_dataset(rows, profiles), out, tmp_path / "own", 1)
    assert (built / "catalog.parquet").read_bytes() == (out / "node-1/catalog.parquet").read_bytes()
    mine, theirs = read_node(built), read_node(out / "node-1")
    assert mine.facts["partition_id"] == 1 and mine.facts["source"] == "own data"
    assert mine.data.train.equals(theirs.data.train)
    for a, b in zip(mine.data.valid.relevant, theirs.data.valid.relevant, strict=True):
        assert np.array_equal(a, b)
    assert mine.split.profiles == theirs.split.profiles
    own = ClientRuntime(cfg, 1, NodeDirSource(str(built)).inputs(cfg, 1))
    cut = ClientRuntime(cfg, 1, NodeDirSource(str(out / "node-1")).inputs(cfg, 1))
    start = trainable_state(cut.cm.model)
    a, b = own.train(start, server_round=2).state, cut.train(start, server_round=2).state
    assert a is not None and b is not None
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_items_outside_the_catalog_stop_it_or_are_dropped_and_counted(tmp_path, partition):
    _, out = partition
    rows, _ = _own_rows(out / "node-0")
    stray = pd.DataFrame(
        {"user_id": ["u-new"] * 2, "item_id": ["nope", "nope2"], "timestamp": [1, 2]}
    )
    ds = _dataset(pd.concat([rows, stray], ignore_index=True))
    with pytest.raises(DataError, match=r"2 of this node's interactions .*'nope'.*drop-bad-rows"):
        write_own_node(ds, out, tmp_path / "strict", 0)
    assert not (tmp_path / "strict").exists()
    built = write_own_node(ds, out, tmp_path / "dropped", 0, drop_bad_rows=True)
    facts = read_node(built).facts
    assert facts["dropped_rows"] == 2 and "u-new" not in set(read_node(built).split.user_ids)


def test_rows_of_the_catalogs_cold_items_are_left_out(tmp_path, partition):
    _, out = partition
    catalog = pd.read_parquet(out / "node-0/catalog.parquet")
    cold = catalog.loc[catalog["cold"], "item_id"].tolist()
    assert cold, "the fixture's catalog has cold items"
    rows, _ = _own_rows(out / "node-0")
    extra = pd.DataFrame(
        {"user_id": rows["user_id"].iloc[0], "item_id": cold[:1], "timestamp": [0]}
    )
    built = write_own_node(
        _dataset(pd.concat([extra, rows], ignore_index=True)), out, tmp_path / "n", 0
    )
    node = read_node(built)
    assert node.facts["cold_item_rows_left_out"] == 1
    assert not node.split.cold_items[node.data.train["item"].to_numpy()].any()


def test_a_wrong_source_a_used_directory_or_an_unknown_partition_is_refused(tmp_path, partition):
    _, out = partition
    ds = _dataset(_own_rows(out / "node-0")[0])
    with pytest.raises(ConfigError, match=r"holds no partition\.json or node\.json"):
        write_own_node(ds, tmp_path, tmp_path / "a", 0)
    with pytest.raises(ConfigError, match=r"partition id 3 is not one of this federation's 0..2"):
        write_own_node(ds, out / "node-2", tmp_path / "b", 3)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        write_own_node(ds, out, tmp_path / "used", 0)
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for name in ("node.json", "catalog.parquet"):
        (tampered / name).write_bytes((out / "node-0" / name).read_bytes())
    facts = json.loads((tampered / "node.json").read_text())
    (tampered / "node.json").write_text(json.dumps(facts | {"catalog_sha256": "0" * 64}))
    with pytest.raises(DataError, match="sha256 differs"):
        write_own_node(ds, tampered, tmp_path / "c", 0)


def test_the_command_reads_the_nodes_own_csv(tmp_path, partition):
    _, out = partition
    rows, _ = _own_rows(out / "node-2")
    rows.to_csv(tmp_path / "mine.csv", index=False)
    result = CliRunner().invoke(
        app,
        ["data", "node", "--from", str(out), "--partition-id", "2", "--out", str(tmp_path / "n"),
         "--set", "dataset=csv", "--set", f"data-path={tmp_path / 'mine.csv'}",
         "--set", "columns=user_id=user_id,item_id=item_id,timestamp=timestamp"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "data-dir=" in result.output
    node = read_node(tmp_path / "n")
    assert node.data.train.equals(read_node(out / "node-2").data.train)


def test_users_with_one_interaction_only_train(tmp_path, partition):
    cfg, out = partition
    rows, _ = _own_rows(out / "node-0")
    firsts = rows.sort_values("timestamp").drop_duplicates("user_id")  # one row a user
    built = write_own_node(_dataset(firsts), out, tmp_path / "n", 0)
    node = read_node(built)
    assert len(node.data.valid) == 0 and len(node.data.train) == firsts["user_id"].nunique()
    runtime = ClientRuntime(cfg, 0, NodeDirSource(str(built)).inputs(cfg, 0))
    assert runtime.train(trainable_state(runtime.cm.model), server_round=1).state is not None


def test_the_two_public_files_of_a_partition_are_enough(tmp_path, partition):
    _, out = partition
    shared = tmp_path / "shared"
    shared.mkdir()
    for name, src in (("partition.json", out), ("catalog.parquet", out / "node-1")):
        (shared / name).write_bytes((src / name).read_bytes())
    rows, _ = _own_rows(out / "node-0")
    built = write_own_node(_dataset(rows), shared, tmp_path / "n", 0)
    assert read_node(built).data.train.equals(read_node(out / "node-0").data.train)


def test_a_node_on_its_own_data_replies_alike_for_datasets_one_user_apart(tmp_path, partition):
    """Built by `fedrec data node` and asked through the real ClientApp under local DP,
    a node's reply carries nothing that depends on its data but the noised update: not
    the counts its node.json holds (users, rows, dropped rows)."""
    from flwr.supercore.task_identity import TaskIdentity

    from tests.federated.flower.test_client_app import (
        METRICS,
        NUM_EXAMPLES,
        _dp_message,
        _mechanism,
        _node,
        make_client_app,
    )

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 7, 1  # a SuperNode's
    cfg, out = partition
    flat = cfg.to_flat()
    rows, profiles = _own_rows(out / "node-0")
    one = rows["user_id"].iloc[0]
    replies = []
    for name, own in (("all", rows), ("fewer", rows[rows["user_id"] != one])):
        built = write_own_node(_dataset(own, profiles), out, tmp_path / name, 0)
        node = _node(tmp_path / name)
        node.node_config["data-dir"] = str(built)
        runtime = ClientRuntime(cfg, 0, NodeDirSource(str(built)).inputs(cfg, 0))
        state = trainable_state(runtime.cm.model)
        reply = make_client_app()(_dp_message(flat, state, _mechanism(flat)), node)
        assert not reply.has_error(), reply.error.reason[-800:] if reply.has_error() else ""
        replies.append(dict(reply.content[METRICS]))
    users = [read_node(tmp_path / name).facts["users"] for name in ("all", "fewer")]
    assert users[0] == users[1] + 1
    assert replies[0] == replies[1] and replies[0][NUM_EXAMPLES] == 1
