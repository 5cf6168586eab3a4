"""Dividing the training interactions among clients.

Schemes (the ``partition`` key):

- ``user`` (cross-device): users are dealt IID to ``num-clients`` clients; each
  user's interactions stay together on one client. ``num-clients = 0`` gives one
  user per client.
- ``scenario`` (cross-silo): each scenario is a silo holding the interactions
  with its own items; with ``num-clients`` a multiple of the number of scenarios
  each silo is split further by user.
- ``dirichlet`` (non-IID): users, labelled by the scenario they use most, are
  spread over clients with Dirichlet(``alpha``) proportions per label.

Dirichlet splits use flwr-datasets' DirichletPartitioner on an in-memory table
of users; IID splits are its IidPartitioner's shards, cut at once. The item
catalog is public; a client's interactions are only ever handed to that client.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedrec.data.split import Cases, Split
from fedrec.errors import ConfigError

SCHEMES = ("user", "scenario", "dirichlet")


@dataclass(frozen=True)
class ClientData:
    """What one client holds: its training rows and its validation cases."""

    train: pd.DataFrame  # columns user, item, timestamp (sorted by user, time)
    valid: Cases  # validation cases of its users, history = the client's own rows


@dataclass(frozen=True)
class _UserIndex:
    """Where each training user's rows and validation case are (train is sorted by user)."""

    users: np.ndarray  # [U] sorted training users
    start: np.ndarray  # [U] first row of each user in split.train
    count: np.ndarray  # [U] rows of each user
    case: np.ndarray  # [U] the user's validation case in split.valid, -1 if none


_INDEXES: dict[int, tuple[weakref.ref[Split], _UserIndex]] = {}


def _user_index(split: Split) -> _UserIndex:
    """The split's :class:`_UserIndex`, built once per split in a process (a process that
    serves thousands of one-user clients must not scan every row for each of them)."""
    cached = _INDEXES.get(id(split))
    if cached is not None and cached[0]() is split:
        return cached[1]
    users = split.train["user"].to_numpy(np.int64)
    change = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    if len(users) and np.any(np.diff(users[change]) <= 0):
        raise ValueError("split.train must be sorted by user")
    unique = users[change]
    case = np.full(len(unique), -1, dtype=np.int64)
    valid_users = np.asarray(split.valid.users, dtype=np.int64)
    at = np.searchsorted(unique, valid_users)
    found = (at < len(unique)) & (unique[np.minimum(at, len(unique) - 1)] == valid_users)
    case[at[found][::-1]] = np.flatnonzero(found)[::-1]  # a user's first case
    index = _UserIndex(unique, change, np.diff(np.r_[change, len(users)]), case)
    if len(_INDEXES) > 8:
        _INDEXES.clear()
    _INDEXES[id(split)] = (weakref.ref(split), index)
    return index


def count_clients(split: Split, scheme: str, num_clients: int) -> int:
    """The number of clients a scheme produces (``num_clients=0`` = natural count)."""
    n_scen = len(split.scenarios)
    if scheme == "user":
        return num_clients or len(_user_index(split).users)
    if scheme == "scenario":
        return num_clients or n_scen
    return num_clients


def check_partition(split: Split, scheme: str, num_clients: int) -> int:
    """Fail early, naming the key, for partitions that cannot work; return the client count."""
    if scheme not in SCHEMES:
        raise ConfigError(f"partition={scheme!r} is unknown: choose one of {list(SCHEMES)}.")
    users = len(_user_index(split).users)
    n = count_clients(split, scheme, num_clients)
    if n < 1:
        raise ConfigError(
            f"num-clients={num_clients}: partition={scheme!r} needs num-clients >= 1."
        )
    if scheme in ("user", "dirichlet") and n > users:
        raise ConfigError(
            f"num-clients={n} is more than the {users} training users: with partition={scheme!r} "
            "every client needs at least one user. Lower num-clients."
        )
    if scheme == "scenario" and n % len(split.scenarios):
        raise ConfigError(
            f"num-clients={n} with partition='scenario' must be a multiple of the "
            f"{len(split.scenarios)} scenarios ({', '.join(split.scenarios)})."
        )
    if scheme == "dirichlet" and len(split.scenarios) == 1:
        warnings.warn(
            f"partition='dirichlet' on data with one scenario ({split.scenarios[0]}) skews only "
            "how many users each client has, not what they use: for label skew give the data "
            "scenarios (MovieLens: scenario-field=genre).",
            stacklevel=2,
        )
    return n


#: Partitions already computed, by (split identity, scheme, clients, alpha, seed): a process
#: serving many clients cuts the population once, not once per client.
_PARTITIONS: dict[tuple[int, str, int, float, int], tuple[weakref.ref[Split], list[np.ndarray]]]
_PARTITIONS = {}


def partition_users(
    split: Split, scheme: str, num_clients: int, *, alpha: float, seed: int
) -> list[np.ndarray]:
    """User indices per client for the ``user`` and ``dirichlet`` schemes (computed once
    per split and settings in a process)."""
    key = (id(split), scheme, num_clients, float(alpha), seed)
    cached = _PARTITIONS.get(key)
    if cached is not None and cached[0]() is split:
        return cached[1]
    users = _partition_users(split, scheme, num_clients, alpha=alpha, seed=seed)
    if len(_PARTITIONS) > 8:
        _PARTITIONS.clear()
    _PARTITIONS[key] = (weakref.ref(split), users)
    return users


def _partition_users(
    split: Split, scheme: str, num_clients: int, *, alpha: float, seed: int
) -> list[np.ndarray]:
    from datasets import Dataset
    from flwr_datasets.partitioner import DirichletPartitioner

    users = _user_index(split).users
    n = count_clients(split, scheme, num_clients)
    rng = np.random.default_rng(seed)
    if scheme == "user":
        # flwr-datasets' IidPartitioner cuts the shuffled table into n contiguous shards
        # (Dataset.shard(contiguous=True)): np.array_split gives the same shards at once
        # (test_partition checks it), where loading 90,000 partitions one by one took 86 s.
        return [np.sort(part) for part in np.array_split(rng.permutation(users), n)]
    items = split.train["item"].to_numpy()
    scen = split.item_scenario[items]
    dominant = (
        pd.DataFrame({"user": split.train["user"].to_numpy(), "scenario": scen})
        .groupby("user")["scenario"]
        .agg(lambda s: s.value_counts().idxmax())
    )
    table = Dataset.from_pandas(
        pd.DataFrame({"user": users, "scenario": dominant.loc[users].to_numpy()})
    )
    min_size = max(1, min(5, len(users) // (4 * n)))
    partitioner = DirichletPartitioner(
        num_partitions=n,
        partition_by="scenario",
        alpha=alpha,
        min_partition_size=min_size,
        self_balancing=True,
        seed=seed,
    )
    partitioner.dataset = table
    try:
        return [
            np.sort(np.asarray(partitioner.load_partition(i)["user"], dtype=np.int64))
            for i in range(n)
        ]
    except ValueError as err:
        raise ConfigError(
            f"partition={scheme!r} could not give {n} clients at least one user each ({err}); "
            "lower num-clients or raise dirichlet-alpha."
        ) from None


def client_data(
    split: Split, scheme: str, num_clients: int, client: int, *, alpha: float, seed: int
) -> ClientData:
    """The data of client ``client`` (0-based) under the given scheme."""
    n = check_partition(split, scheme, num_clients)
    if not 0 <= client < n:
        raise ConfigError(f"client {client} does not exist: partition has clients 0..{n - 1}.")
    train = split.train
    if scheme == "scenario":
        n_scen = len(split.scenarios)
        silo, part = client % n_scen, client // n_scen
        rows = train[split.item_scenario[train["item"].to_numpy()] == silo]
        silo_users = np.sort(rows["user"].unique())
        per = n // n_scen
        chunk = np.array_split(np.random.default_rng(seed + silo).permutation(silo_users), per)[
            part
        ]
        rows = rows[rows["user"].isin(chunk)]
        keep_target = split.item_scenario == silo
    else:
        users = partition_users(split, scheme, num_clients, alpha=alpha, seed=seed)[client]
        return _users_data(split, users)
    rows = rows.reset_index(drop=True)
    return ClientData(train=rows, valid=_local_cases(split.valid, rows, keep_target))


def _users_data(split: Split, users: np.ndarray) -> ClientData:
    """The rows and validation cases of ``users`` (training users), read through the
    split's user index: the same as filtering every row, at the cost of the client's own."""
    index = _user_index(split)
    at = np.searchsorted(index.users, np.sort(np.asarray(users, dtype=np.int64)))
    counts = index.count[at]
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = split.train.iloc[np.repeat(index.start[at], counts) + offsets].reset_index(drop=True)
    items = rows["item"].to_numpy()
    ends = np.cumsum(counts)
    cases = index.case[at]
    order = np.argsort(cases, kind="stable")
    chosen = [j for j in order if cases[j] >= 0]
    valid = split.valid
    local = Cases(
        np.asarray([int(valid.users[cases[j]]) for j in chosen], dtype=np.int64),
        [items[ends[j] - counts[j] : ends[j]] for j in chosen],
        [valid.relevant[cases[j]] for j in chosen],
    )
    return ClientData(train=rows, valid=local)


def _local_cases(valid: Cases, rows: pd.DataFrame, keep_target: np.ndarray) -> Cases:
    """Validation cases of the client's users, seen through the client's own history."""
    local = {int(u): g["item"].to_numpy() for u, g in rows.groupby("user")}
    users, history, relevant = [], [], []
    for user, rel in zip(valid.users, valid.relevant, strict=True):
        hist = local.get(int(user))
        if hist is None or not keep_target[rel].all():
            continue
        users.append(int(user))
        history.append(hist)
        relevant.append(rel)
    return Cases(np.asarray(users, dtype=np.int64), history, relevant)
