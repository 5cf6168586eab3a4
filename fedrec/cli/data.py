"""``fedrec data``: look at datasets before training on them; ``fedrec config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from fedrec.cli.common import ConfigOpt, SetOpt, app, console, data_app, fail, setup
from fedrec.errors import FedrecError


@app.command("config")
def config_keys() -> None:
    """List every configuration key with its default."""
    from fedrec.config import describe_keys

    table = Table("key", "default", "meaning")
    for key, default, help_text in describe_keys():
        table.add_row(key, default, help_text)
    console.print(table)


@data_app.command("inspect")
def data_inspect(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Load a dataset, validate it, split it, and print what is in it."""
    setup(quiet=True)
    from fedrec.config import resolve
    from fedrec.data import load_dataset
    from fedrec.data.loading import split_loaded

    try:
        cfg = resolve(config, set_ or [])
        ds = load_dataset(cfg.data, seed=cfg.train.seed)
        split = split_loaded(ds, cfg.data, seed=cfg.train.seed)
    except FedrecError as err:
        fail(err)
        return
    facts: dict[str, Any] = ds.describe() | {"split": split.stats}
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    table = Table("fact", "value", title=f"dataset {ds.name}")
    for key, value in facts.items():
        table.add_row(key, escape(json.dumps(value) if isinstance(value, dict) else str(value)))
    console.print(table)
    sample = ds.items.head(5)
    items = Table(*sample.columns, title="first items")
    for row in sample.itertuples(index=False):
        items.add_row(*[escape(str(v)[:60]) for v in row])  # the data's text is not markup
    console.print(items)


@data_app.command("partition")
def data_partition(
    out: Annotated[Path, typer.Option("--out", help="New directory for the node directories.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    clients: Annotated[
        int | None, typer.Option("--clients", help="Nodes (default: the config's num-clients).")
    ] = None,
) -> None:
    """Write one data directory per deployment node, cut exactly as the simulation cuts it.

    Each OUT/node-<i> holds that node's interactions, validation cases and profiles and
    the public catalog; a SuperNode reads only its own (node config data-dir)."""
    setup(quiet=True)
    from fedrec.config import resolve
    from fedrec.data.loading import prepare_split
    from fedrec.federated.node_data import write_partition

    try:
        cfg = resolve(config, set_ or [])
        n = cfg.federation.num_clients if clients is None else clients
        written = write_partition(prepare_split(cfg), cfg, out, n)
    except FedrecError as err:
        fail(err)
        return
    table = Table("node", "directory", "users", "interactions", title=f"partition of {out}")
    for path in written:
        facts = json.loads((path / "node.json").read_text())
        table.add_row(
            str(facts["partition_id"]), str(path), str(facts["users"]), str(facts["interactions"])
        )
    console.print(table)
    console.print(
        "start each SuperNode with --node-config \"data-dir='OUT/node-<i>' "
        "state-dir='/path/to/its/state'\""
    )


@data_app.command("node")
def data_node(
    source: Annotated[
        Path,
        typer.Option(
            "--from", help="The federation's partition directory (or one node-<i> of it)."
        ),
    ],
    partition_id: Annotated[
        int, typer.Option("--partition-id", help="This node's partition id (as its node config).")
    ],
    out: Annotated[Path, typer.Option("--out", help="New directory for this node's data.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Write this node's data directory from its own files, against the federation's catalog.

    Run it on the node: the dataset keys (dataset, data-path, columns, drop-bad-rows, ...)
    name the node's own files, and nothing leaves it. Each user's last interaction is
    its validation case; the rest trains."""
    setup(quiet=True)
    from fedrec.config import resolve
    from fedrec.data import load_dataset
    from fedrec.federated.own_node import write_own_node

    try:
        cfg = resolve(config, set_ or [])
        ds = load_dataset(cfg.data, seed=cfg.train.seed)
        path = write_own_node(ds, source, out, partition_id, drop_bad_rows=cfg.data.drop_bad_rows)
    except FedrecError as err:
        fail(err)
        return
    facts = json.loads((path / "node.json").read_text(encoding="utf-8"))
    console.print(
        f"wrote {path}: {facts['users']} users, {facts['interactions']} training rows "
        f"({facts['dropped_rows']} rows dropped, {facts['cold_item_rows_left_out']} of cold "
        f"items left out). Start this SuperNode with --node-config \"data-dir='{path}' "
        "state-dir='/path/to/its/state'\""
    )
