import numpy as np
import pytest

from fedrec.data.split import split_dataset
from fedrec.data.synthetic import generate_synthetic
from fedrec.errors import ConfigError
from fedrec.federated.partition import check_partition, client_data, partition_users


@pytest.fixture(scope="module")
def split():
    ds = generate_synthetic(n_users=80, items_per_scenario=15, interactions_per_user=8, seed=1)
    return split_dataset(
        ds, cold_item_fraction=0.1, cold_user_fraction=0.1, cold_user_history=2, seed=1
    )


def test_user_partition_is_disjoint_and_complete(split):
    parts = partition_users(split, "user", 5, alpha=0.5, seed=0)
    assert len(parts) == 5
    everyone = np.concatenate(parts)
    assert len(everyone) == len(set(everyone.tolist())) == split.train["user"].nunique()
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1  # IID: even


def test_one_user_per_client(split):
    n = check_partition(split, "user", 0)
    assert n == split.train["user"].nunique()
    data = client_data(split, "user", 0, 3, alpha=0.5, seed=0)
    assert data.train["user"].nunique() == 1


def test_client_holds_only_its_users_rows(split):
    data = client_data(split, "user", 4, 2, alpha=0.5, seed=0)
    users = set(data.train["user"].tolist())
    theirs = split.train[split.train["user"].isin(users)]
    assert len(theirs) == len(data.train)
    assert set(data.valid.users.tolist()) <= users


@pytest.mark.parametrize(("scheme", "clients"), [("user", 0), ("user", 6), ("dirichlet", 4)])
def test_client_data_is_the_filter_of_every_row(split, scheme, clients):
    """The indexed path gives exactly what filtering every row by user would."""
    for client in range(min(check_partition(split, scheme, clients), 12)):
        data = client_data(split, scheme, clients, client, alpha=0.5, seed=0)
        users = partition_users(split, scheme, clients, alpha=0.5, seed=0)[client]
        expected = split.train[split.train["user"].isin(users)].reset_index(drop=True)
        assert data.train.equals(expected)
        local = {int(u): g["item"].to_numpy() for u, g in expected.groupby("user")}
        cases = [i for i, u in enumerate(split.valid.users) if int(u) in local]
        assert data.valid.users.tolist() == [int(split.valid.users[i]) for i in cases]
        for got, i in zip(data.valid.history, cases, strict=True):
            assert got.tolist() == local[int(split.valid.users[i])].tolist()
        for got, i in zip(data.valid.relevant, cases, strict=True):
            assert got.tolist() == split.valid.relevant[i].tolist()


def test_scenario_silos_hold_only_their_scenario(split):
    n_scen = len(split.scenarios)
    for client in range(n_scen):
        data = client_data(split, "scenario", 0, client, alpha=0.5, seed=0)
        scen = split.item_scenario[data.train["item"].to_numpy()]
        assert set(scen.tolist()) == {client}
        for rel in data.valid.relevant:
            assert split.item_scenario[rel[0]] == client
    # split further: 2 parts per silo, together the whole silo
    a = client_data(split, "scenario", 2 * n_scen, 0, alpha=0.5, seed=0).train
    b = client_data(split, "scenario", 2 * n_scen, n_scen, alpha=0.5, seed=0).train
    whole = client_data(split, "scenario", n_scen, 0, alpha=0.5, seed=0).train
    assert len(a) + len(b) == len(whole)
    assert set(a["user"]).isdisjoint(set(b["user"]))


def test_dirichlet_is_non_iid(split):
    parts = partition_users(split, "dirichlet", 4, alpha=0.1, seed=0)
    assert sum(len(p) for p in parts) == split.train["user"].nunique()
    shares = []
    for users in parts:
        rows = split.train[split.train["user"].isin(users)]
        counts = np.bincount(split.item_scenario[rows["item"].to_numpy()], minlength=3)
        shares.append(counts / counts.sum())
    # with a small alpha, clients differ strongly in their scenario mix
    assert np.ptp(np.array(shares), axis=0).max() > 0.3


@pytest.mark.parametrize(
    ("scheme", "clients", "match"),
    [("user", 10_000, "num-clients"), ("scenario", 4, "multiple"), ("zip", 2, "partition")],
)
def test_impossible_partitions_fail_early(split, scheme, clients, match):
    with pytest.raises(ConfigError, match=match):
        check_partition(split, scheme, clients)


def test_dirichlet_over_a_single_scenario_warns_that_it_only_skews_sizes(split):
    import dataclasses

    one = dataclasses.replace(split, scenarios=[split.scenarios[0]])
    with pytest.warns(UserWarning, match="scenario-field=genre"):
        check_partition(one, "dirichlet", 3)


@pytest.mark.parametrize("clients", [0, 1, 7, 36])
def test_iid_partition_is_flwr_datasets_iid_partitioner(split, clients):
    """The IID shards are exactly flwr-datasets' IidPartitioner on the shuffled users."""
    import pandas as pd
    from datasets import Dataset
    from flwr_datasets.partitioner import IidPartitioner

    n = check_partition(split, "user", clients)
    users = np.sort(split.train["user"].unique())
    partitioner = IidPartitioner(num_partitions=n)
    shuffled = np.random.default_rng(0).permutation(users)
    partitioner.dataset = Dataset.from_pandas(pd.DataFrame({"user": shuffled}))
    ours = partition_users(split, "user", clients, alpha=0.5, seed=0)
    for i in range(n):
        theirs = np.sort(np.asarray(partitioner.load_partition(i)["user"], dtype=np.int64))
        assert ours[i].tolist() == theirs.tolist()
