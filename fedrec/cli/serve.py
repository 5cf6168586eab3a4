"""Serving commands: ``fedrec export``, ``fedrec recommend``, ``fedrec serve``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fedrec.cli.common import app, console, fail, setup
from fedrec.errors import FedrecError

PathArg = Annotated[Path, typer.Argument(help="A serving bundle or a run directory.")]


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by train or simulate.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the serving bundle.")],
    overwrite: Annotated[bool, typer.Option(help="Replace a bundle already in --out.")] = False,
    cold_run: Annotated[
        Path | None,
        typer.Option(
            help="A second run over the same catalog (e.g. trained with short-history-from="
            "first) that answers requests knowing at most --cold-clicks items.",
        ),
    ] = None,
    cold_clicks: Annotated[
        int | None,
        typer.Option(min=0, help="With --cold-run: the most known items it answers for [5]."),
    ] = None,
) -> None:
    """Write a serving bundle: the released model, the public catalog, the model card."""
    setup(quiet=True)
    from fedrec.serving.bundle import export_bundle

    if cold_clicks is not None and cold_run is None:
        fail(FedrecError("--cold-clicks needs --cold-run (the model that answers those users)."))
        return
    try:
        path = export_bundle(
            run_dir,
            out,
            overwrite=overwrite,
            cold_run=cold_run,
            cold_clicks=5 if cold_clicks is None else cold_clicks,
        )
    except FedrecError as err:
        fail(err)
        return
    console.print(f"serving bundle: [bold]{path}[/] (model card: {path / 'model_card.md'})")


def _split_ids(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


@app.command()
def recommend(
    path: PathArg,
    history: Annotated[
        str, typer.Option(help="Item ids the user liked, most recent first: ID,ID,...")
    ] = "",
    profile: Annotated[str | None, typer.Option(help="A profile text.")] = None,
    scenario: Annotated[str | None, typer.Option(help="Rank only this scenario's items.")] = None,
    k: Annotated[int, typer.Option(help="How many items.")] = 10,
    exclude: Annotated[str, typer.Option(help="Item ids never to recommend: ID,ID,...")] = "",
    diversity: Annotated[
        float, typer.Option(help="0 = by score; up to 1 = re-rank the best for variety (MMR).")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Recommend on this machine: the history and profile never leave it."""
    setup(quiet=True)
    from fedrec.serving import Recommender

    try:
        result = Recommender.load(path).recommend(
            history=_split_ids(history),
            profile=profile,
            scenario=scenario,
            k=k,
            exclude=_split_ids(exclude),
            diversity=diversity,
        )
    except FedrecError as err:
        fail(err)
        return
    if as_json:
        typer.echo(json.dumps(asdict(result), indent=2))
        return
    table = Table("#", "item", "title", "scenario", "score", "why", title="recommendations")
    for n, item in enumerate(result.items, start=1):
        cells = (item.item_id, item.title, item.scenario, f"{item.score:.2f}", item.explanation)
        table.add_row(str(n), *(escape(str(c)) for c in cells))  # ids and titles are not markup
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if result.cold_start:
        console.print("cold start: nothing was known about the user.")
    if result.served_by != "main":
        console.print(f"served by the {result.served_by} model (few items known).")


@app.command()
def serve(
    path: PathArg,
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 for all).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    index: Annotated[
        str, typer.Option(help="exact, or hnsw (faiss) for large catalogs.")
    ] = "exact",
    max_k: Annotated[int, typer.Option(help="Largest k a request may ask for.")] = 100,
    threads: Annotated[
        int,
        typer.Option(
            min=0,
            help="torch CPU threads per request (0 = all cores). Requests take the model one "
            "at a time, so one thread serves concurrent requests fastest; POST /items "
            "encodes on every core.",
        ),
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log each request's method, path and status (never bodies).")
    ] = False,
) -> None:
    """Serve the HTTP API and the web page (OpenAPI at /openapi.json)."""
    setup()
    import uvicorn
    from threadpoolctl import threadpool_limits

    from fedrec.serving import Recommender
    from fedrec.serving.http import Limits, create_app

    if threads > 0:
        threadpool_limits(threads, user_api="blas")  # numpy's scoring, like torch's
    try:
        recommender = Recommender.load(path, index=index, threads=threads)
    except FedrecError as err:
        fail(err)
        return
    console.print(f"serving {len(recommender.items)} items on http://{host}:{port}/")
    uvicorn.run(
        create_app(recommender, Limits(max_k=max_k)),
        host=host,
        port=port,
        access_log=access_log,
        log_level="warning",
    )
