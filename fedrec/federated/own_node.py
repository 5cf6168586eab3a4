"""A node's own data, turned into the directory a SuperNode reads.

In a cross-silo deployment each silo holds its own interactions, in its own files.
``fedrec data node`` reads them with the usual loaders (any ``dataset``: MovieLens,
Amazon, CSV/Parquet, with ``drop-bad-rows`` for messy files) on the silo's own
machine, and writes a node directory (:mod:`fedrec.federated.node_data`, version
``VERSION``) against the federation's public catalog, taken from a partition or node
directory the operator shares (``FROM``): the catalog file is copied byte for byte, so
its sha256 is the one every other node and the server hold. Nothing leaves the silo.

What the directory holds, from the silo's rows (oldest first within a user):

* training rows: each user's interactions but the last (all of them for a user with one);
* validation cases: each user with two or more, scored from the earlier ones against
  the last (the simulation's validation case, one step later: a node keeps no test);
* profiles, where the loader has them and the federation's model takes them.

Rows of items the catalog does not hold stop the command (their ids named), or with
``drop-bad-rows`` are left out and counted. Rows of the catalog's cold items (the
evaluation's new arrivals, which no client trains on) are left out and counted.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fedrec.data.bad_rows import BadRows
from fedrec.data.schema import RecDataset
from fedrec.data.split import user_runs
from fedrec.errors import ConfigError, DataError
from fedrec.federated.node_data import FORMAT, PROFILES, VERSION, check_facts
from fedrec.files import atomic_write_bytes, atomic_write_json, parquet_bytes

log = logging.getLogger(__name__)

#: valid.parquet's columns, typed even when it has no rows.
_IDS = pa.list_(pa.string())
_VALID_SCHEMA = pa.schema([("user_id", pa.string()), ("history", _IDS), ("relevant", _IDS)])
#: The facts of the federation a node directory must share with every other one.
SHARED = ("num_partitions", "catalog_sha256", "items", "scenarios", "has_profiles")


def shared_catalog(source: str | Path) -> tuple[bytes, dict[str, Any]]:
    """The catalog file's bytes and the federation's facts, from a partition directory
    (``partition.json`` and its ``node-*/catalog.parquet``) or one node's directory."""
    source = Path(source)
    fix = "point --from at a directory written by 'fedrec data partition' or at one node-<i>"
    facts_file = source / "partition.json"
    if facts_file.is_file():
        catalogs = sorted(source.glob("node-*/catalog.parquet"))
        catalog = catalogs[0] if catalogs else source / "catalog.parquet"
    else:
        facts_file, catalog = source / "node.json", source / "catalog.parquet"
    if not facts_file.is_file():
        raise ConfigError(f"{source} holds no partition.json or node.json: {fix}.")
    if not catalog.is_file():
        raise ConfigError(f"{source} holds {facts_file.name} but no catalog.parquet: {fix}.")
    try:
        facts = json.loads(facts_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{facts_file} cannot be read ({err}): {fix}.") from None
    check_facts(facts, str(facts_file), fix)
    missing = [key for key in SHARED if key not in facts]
    if missing:
        raise DataError(f"{facts_file} lacks {', '.join(missing)}: {fix}.")
    data = catalog.read_bytes()
    if hashlib.sha256(data).hexdigest() != facts["catalog_sha256"]:
        raise DataError(
            f"{catalog} is not the catalog {facts_file} names (sha256 differs): copy the "
            "partition's catalog again."
        )
    return data, facts


def write_own_node(
    ds: RecDataset,
    source: str | Path,
    out: str | Path,
    partition_id: int,
    *,
    drop_bad_rows: bool = False,
) -> Path:
    """Write ``out`` (new or empty) from the silo's dataset ``ds`` against the catalog of
    ``source``; return ``out``. ``partition_id`` is the node's (its node config's)."""
    catalog_bytes, shared = shared_catalog(source)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty: choose a new directory for this node's data.")
    n = int(shared["num_partitions"])
    if isinstance(partition_id, bool) or not 0 <= partition_id < n:
        raise ConfigError(
            f"partition id {partition_id} is not one of this federation's 0..{n - 1}: use the "
            "partition-id of this node's config."
        )
    catalog = pd.read_parquet(io.BytesIO(catalog_bytes))
    rows, counts = _catalog_rows(ds, catalog, BadRows(drop_bad_rows))
    train, valid = _leave_last_out(rows)
    users = pd.unique(train["user_id"])
    files = {
        "catalog.parquet": catalog_bytes,
        "interactions.parquet": parquet_bytes(train),
        "valid.parquet": parquet_bytes(valid, schema=_VALID_SCHEMA),
    }
    if shared["has_profiles"] and ds.profiles is not None:
        own = ds.profiles[ds.profiles["user_id"].isin(users)]
        files[PROFILES] = parquet_bytes(own[["user_id", "profile"]])
    elif shared["has_profiles"]:
        log.warning("the federation's model takes profiles; this node has none (they stay empty).")
    out.mkdir(parents=True, exist_ok=True)  # everything is serialised: only writes from here
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    facts = {key: shared[key] for key in SHARED} | {
        "format": FORMAT,
        "version": VERSION,
        "partition_id": int(partition_id),
        "users": len(users),
        "interactions": len(train),
        "source": "own data",
        "dropped_rows": ds.dropped_rows + counts["unknown"],
        "cold_item_rows_left_out": counts["cold"],
    }
    atomic_write_json(out / "node.json", facts)
    return out


def _catalog_rows(
    ds: RecDataset, catalog: pd.DataFrame, bad: BadRows
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The silo's rows whose items the catalog holds and may train on, in time order."""
    inter = ds.interactions
    inter = inter.assign(user_id=inter["user_id"].astype(str), item_id=inter["item_id"].astype(str))
    inter = inter.sort_values(["user_id", "timestamp"], kind="stable")  # as validated data is
    known = inter["item_id"].isin(catalog["item_id"].astype(str))
    counts = {"unknown": int((~known).sum()), "cold": 0}
    if counts["unknown"]:
        unknown = pd.unique(inter.loc[~known, "item_id"])[:5].tolist()
        error = DataError(
            f"{counts['unknown']} of this node's interactions name items the federation's "
            f"catalog does not hold (e.g. {unknown}). Fix: use the catalog's item ids, or "
            "ask the operator to add the items to the catalog."
        )
        where = f"{ds.name} (items not in the federation's catalog)"
        bad.reject(error, source=where, count=counts["unknown"])
        bad.report()
        inter = inter[known]
    cold = set(catalog.loc[catalog["cold"].astype(bool), "item_id"].astype(str))
    is_cold = inter["item_id"].isin(cold)
    counts["cold"] = int(is_cold.sum())
    if counts["cold"]:
        log.warning(
            "%d interactions with the catalog's cold items left out (no client trains on them).",
            counts["cold"],
        )
    inter = inter[~is_cold]
    if inter.empty:
        raise DataError(
            f"{ds.name}: no interaction is left to train on (none names a warm item of the "
            "federation's catalog). Fix: check that this is the right data and catalog."
        )
    return inter[["user_id", "item_id", "timestamp"]].reset_index(drop=True), counts


def _leave_last_out(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows (each user's but the last, where there are two or more) and one
    validation case per such user (the earlier items against the last)."""
    users = rows["user_id"].to_numpy()
    _, start, count = user_runs(users)
    last = start + count - 1
    holds_out = count >= 2
    keep = np.ones(len(rows), dtype=bool)
    keep[last[holds_out]] = False
    items = rows["item_id"].astype(str).to_numpy()
    firsts, lasts = start[holds_out], last[holds_out]
    history = [items[s:e].tolist() for s, e in zip(firsts, lasts, strict=True)]
    valid = pd.DataFrame(
        {
            "user_id": users[firsts].astype(str),
            "history": pd.Series(history, dtype=object),  # typed lists even with no rows
            "relevant": pd.Series([[items[e]] for e in lasts], dtype=object),
        }
    )
    train = rows[keep].reset_index(drop=True)
    train = train.assign(timestamp=train["timestamp"].to_numpy(np.int64))
    return train, valid
