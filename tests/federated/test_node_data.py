"""Node data: `fedrec data partition` cuts what the simulation cuts; a node reads only its own."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fedrec.data.loading import prepare_split
from fedrec.errors import ConfigError, DataError
from fedrec.federated.client import ClientRuntime
from fedrec.federated.node_data import NodeDirSource, read_node, write_partition
from fedrec.federated.partition import client_data
from fedrec.federated.sources import GlobalSplitSource
from fedrec.models.state import trainable_state


def _as_ids(split, train):
    return list(
        zip(
            split.user_ids[train["user"].to_numpy()],
            split.item_ids[train["item"].to_numpy()],
            train["timestamp"].to_numpy(),
            strict=True,
        )
    )


@pytest.mark.parametrize("pid", [0, 1, 2])
def test_each_node_directory_holds_exactly_the_simulated_clients_data(partition, pid):
    cfg, out = partition
    split = prepare_split(cfg)
    fed = cfg.federation
    expected = client_data(split, fed.partition, 3, pid, alpha=fed.dirichlet_alpha, seed=0)
    node = read_node(out / f"node-{pid}")
    assert _as_ids(node.split, node.data.train) == _as_ids(split, expected.train)
    got, want = node.data.valid, expected.valid
    assert list(node.split.user_ids[got.users]) == list(split.user_ids[want.users])
    for a, b in zip(got.history, want.history, strict=True):
        assert list(node.split.item_ids[a]) == list(split.item_ids[b])
    for a, b in zip(got.relevant, want.relevant, strict=True):
        assert list(node.split.item_ids[a]) == list(split.item_ids[b])
    # Only its own users' profiles, and the whole public catalog.
    own = set(split.user_ids[expected.train["user"].unique()])
    assert set(node.split.user_ids) == own
    assert list(node.split.item_text) == list(split.item_text)
    assert np.array_equal(node.split.cold_items, split.cold_items)


def test_a_node_trains_exactly_what_the_simulated_client_trains(partition):
    cfg, out = partition
    simulated = ClientRuntime(cfg, 1, GlobalSplitSource(threads=1).inputs(cfg, 1))
    deployed = ClientRuntime(cfg, 1, NodeDirSource(str(out / "node-1")).inputs(cfg, 1))
    start = trainable_state(simulated.cm.model)
    a = simulated.train(start, server_round=2).state
    b = deployed.train(start, server_round=2).state
    assert a is not None and b is not None
    assert any(not torch.equal(a[k], start[k]) for k in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert simulated.evaluate(a).metrics == pytest.approx(deployed.evaluate(b).metrics)


def test_partitioning_into_a_non_empty_directory_is_refused(partition):
    cfg, out = partition
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ConfigError, match="not empty"):
        write_partition(prepare_split(cfg), cfg, out, 3)
    assert sorted(p.name for p in out.iterdir()) == before


def _copy(src, dst):
    dst.mkdir(parents=True)
    for path in src.iterdir():
        (dst / path.name).write_bytes(path.read_bytes())
    return dst


def _break(path, how):
    if how == "missing":
        (path / "interactions.parquet").unlink()
    elif how == "garbage":
        (path / "interactions.parquet").write_bytes(b"not parquet")
    elif how == "version":
        facts = json.loads((path / "node.json").read_text())
        (path / "node.json").write_text(json.dumps(facts | {"version": 99}))
    elif how == "catalog":
        catalog = pd.read_parquet(path / "catalog.parquet")
        catalog.loc[0, "text"] = "tampered"
        catalog.to_parquet(path / "catalog.parquet", index=False)
    elif how == "unknown-item":
        rows = pd.read_parquet(path / "interactions.parquet")
        rows.loc[0, "item_id"] = "no-such-item"
        rows.to_parquet(path / "interactions.parquet", index=False)


@pytest.mark.parametrize(
    "how,says",
    [
        ("missing", "lacks interactions.parquet"),
        ("garbage", "cannot be read"),
        ("version", "version 99"),
        ("catalog", "sha256"),
        ("unknown-item", "no-such-item"),
    ],
)
def test_a_broken_node_directory_gets_a_clear_error(tmp_path, partition, how, says):
    _, out = partition
    path = _copy(out / "node-0", tmp_path / "node-0")
    _break(path, how)
    with pytest.raises(DataError, match=says):
        read_node(path)


def test_a_missing_directory_or_another_nodes_data_is_refused(tmp_path, partition):
    cfg, out = partition
    with pytest.raises(ConfigError, match=r"does not exist.*fedrec data partition"):
        read_node(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"holds partition 2.*partition-id is 0"):
        NodeDirSource(str(out / "node-2")).inputs(cfg, 0)


def test_a_node_file_whose_user_rows_are_scattered_reads_as_the_sorted_file(partition, tmp_path):
    """Training cuts a record at each change of user: a hand-edited interactions file
    that scatters one user's rows would make that user several records, so user-level
    DP would count one user as two. The node reads it as the sorted file."""
    import shutil

    _, out = partition
    node = tmp_path / "node"
    shutil.copytree(out / "node-0", node)
    rows = pd.read_parquet(node / "interactions.parquet")
    shuffled = rows.sample(frac=1.0, random_state=3)
    assert not shuffled["user_id"].is_monotonic_increasing
    shuffled.to_parquet(node / "interactions.parquet")
    scattered, kept = read_node(node), read_node(out / "node-0")
    users = scattered.data.train["user"].to_numpy()
    assert (np.diff(users) != 0).sum() + 1 == len(np.unique(users))  # one run per user
    got = _as_ids(scattered.split, scattered.data.train)
    assert sorted(got) == sorted(_as_ids(kept.split, kept.data.train))
    for user in {u for u, _, _ in got}:  # each user's rows oldest first
        times = [t for u, _, t in got if u == user]
        assert times == sorted(times)
