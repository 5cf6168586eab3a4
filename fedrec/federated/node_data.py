"""Node-local data for deployment: one directory per SuperNode.

``fedrec data partition`` cuts a dataset exactly as the simulation does
(:func:`~fedrec.federated.partition.client_data`) and writes each client's part
to a directory of its own, which is all a SuperNode reads
(:class:`NodeDirSource`, named by its node config ``data-dir``). It never builds
the global dataset.

Layout (``FORMAT``, version ``VERSION``); ids are the dataset's own strings::

    OUT/partition.json          what was cut, how, and the catalog's sha256
    OUT/node-<i>/node.json      format, version, partition id, counts, catalog sha256
    OUT/node-<i>/catalog.parquet       item_id, text, scenario, cold   (public, shared)
    OUT/node-<i>/interactions.parquet  user_id, item_id, timestamp     (this node's rows)
    OUT/node-<i>/valid.parquet         user_id, history, relevant      (its validation cases)
    OUT/node-<i>/profiles.parquet      user_id, profile                (its users' profiles)

Rows keep the simulation's order (users in the split's order, time within a
user), so a node trains on what simulated client ``i`` trains on.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedrec.config import Config, DataConfig, ModelConfig
from fedrec.data.split import Cases, Split
from fedrec.device import cores, pick_device
from fedrec.errors import ConfigError, DataError
from fedrec.federated.partition import ClientData, check_partition, client_data
from fedrec.federated.sources import ClientInputs
from fedrec.files import atomic_write_bytes, atomic_write_json, parquet_bytes
from fedrec.models.catalog_model import build_catalog_model

FORMAT = "fedrec-node-data"
VERSION = 1
NODE_FILES = ("node.json", "catalog.parquet", "interactions.parquet", "valid.parquet")
PROFILES = "profiles.parquet"


def node_dir(out: str | Path, partition_id: int) -> Path:
    return Path(out) / f"node-{partition_id}"


def catalog_frame(split: Split) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": split.item_ids.astype(str),
            "text": list(split.item_text),
            "scenario": [split.scenarios[s] for s in split.item_scenario],
            "cold": split.cold_items.astype(bool),
        }
    )


def write_partition(split: Split, cfg: Config, out: str | Path, num_clients: int) -> list[Path]:
    """Write every client's directory under ``out`` (which must be empty or new)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty: choose a new directory for the partition.")
    fed = cfg.federation
    n = check_partition(split, fed.partition, num_clients)
    catalog = parquet_bytes(catalog_frame(split))
    digest = hashlib.sha256(catalog).hexdigest()
    facts = {
        "format": FORMAT,
        "version": VERSION,
        "num_partitions": n,
        "partition": fed.partition,
        "dirichlet_alpha": fed.dirichlet_alpha,
        "seed": cfg.train.seed,
        "catalog_sha256": digest,
        "items": split.n_items,
        "scenarios": list(split.scenarios),
        "has_profiles": bool(any(split.profiles)),
        "data": {k: v for k, v in cfg.to_flat().items() if k in _DATA_KEYS},
    }
    written = []
    for i in range(n):
        data = client_data(
            split, fed.partition, num_clients, i, alpha=fed.dirichlet_alpha, seed=cfg.train.seed
        )
        path = node_dir(out, i)
        path.mkdir(parents=True)
        atomic_write_bytes(path / "catalog.parquet", catalog)
        _write_node(path, split, data)
        users = data.train["user"].unique()
        atomic_write_json(
            path / "node.json",
            facts | {"partition_id": i, "users": len(users), "interactions": len(data.train)},
        )
        written.append(path)
    atomic_write_json(out / "partition.json", facts)
    return written


_DATA_KEYS = frozenset(
    {
        "dataset",
        "data-path",
        "scenario-field",
        "synthetic-users",
        "synthetic-items-per-scenario",
        "synthetic-interactions-per-user",
        "synthetic-scenario-taste",
        "kcore",
        "cold-item-fraction",
        "cold-user-fraction",
        "cold-user-history",
    }
)


def _write_node(path: Path, split: Split, data: ClientData) -> None:
    ids = split.item_ids.astype(str)
    train = data.train
    users = train["user"].to_numpy()
    rows = pd.DataFrame(
        {
            "user_id": split.user_ids[users].astype(str),
            "item_id": ids[train["item"].to_numpy()],
            "timestamp": train["timestamp"].to_numpy(np.int64),
        }
    )
    valid = pd.DataFrame(
        {
            "user_id": split.user_ids[data.valid.users].astype(str),
            "history": [ids[h].tolist() for h in data.valid.history],
            "relevant": [ids[r].tolist() for r in data.valid.relevant],
        }
    )
    own = pd.unique(users)
    profiles = pd.DataFrame(
        {"user_id": split.user_ids[own].astype(str), "profile": [split.profiles[u] for u in own]}
    )
    atomic_write_bytes(path / "interactions.parquet", parquet_bytes(rows))
    atomic_write_bytes(path / "valid.parquet", parquet_bytes(valid))
    atomic_write_bytes(path / PROFILES, parquet_bytes(profiles))


@dataclass(frozen=True)
class NodeData:
    """One node's directory, read and checked: its split (the public catalog, its own
    users, rows and validation cases) and its facts."""

    split: Split
    data: ClientData
    facts: dict[str, Any]


def read_node(path: str | Path) -> NodeData:
    """Read a node directory; a clear :class:`ConfigError`/:class:`DataError` when it is
    missing, of another format or version, or inconsistent."""
    path = Path(path)
    fix = "write it with 'fedrec data partition --out DIR' and point data-dir at DIR/node-<i>"
    if not path.is_dir():
        raise ConfigError(f"this node's data-dir {path} does not exist: {fix}.")
    missing = [name for name in NODE_FILES if not (path / name).is_file()]
    if missing:
        raise DataError(f"node data {path} lacks {', '.join(missing)}: {fix}.")
    facts = _read(path, "node.json", lambda f: json.loads(f.read_text(encoding="utf-8")), fix)
    check_facts(facts, f"node.json of {path}", fix)
    catalog_bytes = (path / "catalog.parquet").read_bytes()
    if hashlib.sha256(catalog_bytes).hexdigest() != facts.get("catalog_sha256"):
        raise DataError(
            f"catalog.parquet of {path} is not the catalog this node's data was cut "
            f"against (sha256 differs): copy the partition's catalog again."
        )
    catalog = _read(
        path, "catalog.parquet", lambda f: pd.read_parquet(io.BytesIO(catalog_bytes)), fix
    )
    rows = _read(path, "interactions.parquet", pd.read_parquet, fix)
    valid = _read(path, "valid.parquet", pd.read_parquet, fix)
    profiles = pd.DataFrame()
    if (path / PROFILES).is_file():
        profiles = _read(path, PROFILES, pd.read_parquet, fix)
    split, data = _node_split(path, catalog, rows, valid, profiles, list(facts["scenarios"]))
    return NodeData(split, data, facts)


def check_facts(facts: Any, where: str, fix: str) -> None:
    """A :class:`DataError` unless ``facts`` are fedrec node data of this ``VERSION``."""
    if not isinstance(facts, dict) or facts.get("format") != FORMAT:
        raise DataError(f"{where} is not fedrec node data: {fix}.")
    if facts.get("version") != VERSION:
        raise DataError(
            f"{where} is node data version {facts.get('version')}; this fedrec reads "
            f"version {VERSION}: partition again with this version."
        )


def _read(path: Path, name: str, reader: Callable[[Path], Any], fix: str) -> Any:
    """``reader(path / name)``; a :class:`DataError` naming the file when it cannot be read."""
    try:
        return reader(path / name)
    except (OSError, ValueError, KeyError, TypeError) as err:  # unreadable JSON or Parquet
        raise DataError(f"{name} of node data {path} cannot be read ({err}): {fix}.") from None


def _indices(ids: pd.Series | np.ndarray, index: pd.Index, path: Path, what: str) -> np.ndarray:
    at = index.get_indexer(np.asarray(ids, dtype=str))
    if (at < 0).any():
        bad = np.asarray(ids, dtype=str)[at < 0][:3].tolist()
        raise DataError(
            f"node data {path}: {what} names items not in its catalog ({bad}): the files "
            "do not belong together; partition again."
        )
    return at.astype(np.int64)


def _node_split(
    path: Path,
    catalog: pd.DataFrame,
    rows: pd.DataFrame,
    valid: pd.DataFrame,
    profiles: pd.DataFrame,
    scenarios: list[str],
) -> tuple[Split, ClientData]:
    items = pd.Index(catalog["item_id"].astype(str))
    users = pd.Index(pd.unique(rows["user_id"].astype(str)))
    train = pd.DataFrame(
        {
            "user": users.get_indexer(rows["user_id"].astype(str)).astype(np.int64),
            "item": _indices(rows["item_id"], items, path, "interactions.parquet"),
            "timestamp": rows["timestamp"].to_numpy(np.int64),
        }
    )
    # One user's rows together, oldest first (file order on ties): training cuts records
    # at each change of user, so a user whose rows a hand-edited file scatters would
    # otherwise be several records, and one user-level record would count as two.
    train = train.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    valid_users = users.get_indexer(valid["user_id"].astype(str)).astype(np.int64)
    if (valid_users < 0).any():
        raise DataError(f"node data {path}: valid.parquet names users with no interactions.")
    cases = Cases(
        valid_users,
        [_indices(h, items, path, "valid.parquet") for h in valid["history"]],
        [_indices(r, items, path, "valid.parquet") for r in valid["relevant"]],
    )
    texts = dict.fromkeys(users, "")
    if len(profiles):
        texts |= dict(zip(profiles["user_id"].astype(str), profiles["profile"], strict=True))
    scen = pd.Index(scenarios).get_indexer(catalog["scenario"].astype(str))
    empty = Cases(np.zeros(0, dtype=np.int64), [], [])
    split = Split(
        item_ids=items.to_numpy(),
        item_text=catalog["text"].astype(str).tolist(),
        item_scenario=scen.astype(np.int64),
        scenarios=scenarios,
        user_ids=users.to_numpy(),
        profiles=[str(texts[u] or "") for u in users],
        cold_items=catalog["cold"].to_numpy(bool),
        train=train,
        valid=cases,
        test=empty,
        cold_item_cases=empty,
        cold_user_cases=empty,
    )
    return split, ClientData(train=train, valid=cases)


@dataclass(frozen=True)
class NodeDirSource:
    """Deployment: a SuperNode's data from its own directory (node config ``data-dir``)."""

    path: str

    def inputs(self, cfg: Config, partition_id: int) -> ClientInputs:
        threads = cfg.train.threads or cores()  # a SuperNode has its machine to itself
        inputs, held = _node_inputs(self.path, cfg.model, cfg.data, cfg.train.device, threads)
        if held != partition_id:
            raise ConfigError(
                f"data-dir {self.path} holds partition {held}, but this node's "
                f"partition-id is {partition_id}: fix one of them."
            )
        return inputs


def node_partition_id(path: str | Path) -> int:
    """The partition id a node directory holds (read from its ``node.json``)."""
    node_json = Path(path) / "node.json"
    try:
        return int(json.loads(node_json.read_text(encoding="utf-8"))["partition_id"])
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(
            f"cannot read this node's partition id from {node_json} ({err}): write the node "
            "data with 'fedrec data partition'."
        ) from None


@lru_cache(maxsize=2)
def _node_inputs(
    path: str, model: ModelConfig, data: DataConfig, device: str, threads: int
) -> tuple[ClientInputs, int]:
    """A node directory read once and the model built over its catalog; its partition id."""
    node = read_node(path)
    cm = build_catalog_model(
        node.split,
        model,
        data,
        pick_device(device, threads),
        has_profiles=bool(node.facts["has_profiles"]),
    )
    return ClientInputs(node.data, node.split, cm), int(node.facts["partition_id"])
