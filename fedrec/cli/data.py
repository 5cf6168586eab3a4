"""``fedrec data``: look at datasets before training on them; ``fedrec config``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
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
    from fedrec.data.loading import prepare_split

    try:
        cfg = resolve(config, set_ or [])
        ds = load_dataset(cfg.data, seed=cfg.train.seed)
        split = prepare_split(cfg)
    except FedrecError as err:
        fail(err)
        return
    facts: dict[str, Any] = ds.describe() | {"split": split.stats}
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    table = Table("fact", "value", title=f"dataset {ds.name}")
    for key, value in facts.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)
    sample = ds.items.head(5)
    items = Table(*sample.columns, title="first items")
    for row in sample.itertuples(index=False):
        items.add_row(*[str(v)[:60] for v in row])
    console.print(items)
