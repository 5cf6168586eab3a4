"""Commands that run and read runs: train, simulate, evaluate, sweep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fedrec.cli.common import ConfigOpt, SetOpt, app, console, fail, setup
from fedrec.cli.format import print_summary
from fedrec.errors import FedrecError
from fedrec.files import json_safe


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train the recommender centrally (the reference run) and evaluate it beside baselines."""
    setup(quiet)
    from fedrec.config import resolve
    from fedrec.runs.centralized import train_centralized
    from fedrec.runs.rundir import RunDir

    try:
        cfg = resolve(config, set_ or [])
        run = RunDir(out).create(overwrite=overwrite)
        with run.replacing():  # a replaced run comes back if this one fails
            summary = train_centralized(cfg, run, progress=not quiet)
    except FedrecError as err:
        fail(err)
        return
    print_summary(summary, cfg.eval.k)
    console.print(f"run directory: [bold]{out}[/]")


@app.command()
def simulate(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory to write.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue the run in this directory from its last checkpoint."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Less output.")] = False,
) -> None:
    """Federated training in Flower's simulation engine (same apps and keys as 'flwr run')."""
    setup(quiet)
    from fedrec.config import resolve
    from fedrec.federated.flower.simulation import simulate as run_simulation
    from fedrec.runs.rundir import RunDir

    try:
        if resume is not None:
            if out is not None and Path(out).resolve() != Path(resume).resolve():
                raise FedrecError(
                    "--resume continues the run in its own directory: leave --out out."
                )
            run = RunDir(resume).require()
            cfg = resume_config(run, config, set_ or [])
        else:
            if out is None:
                raise FedrecError("give --out RUN_DIR (or --resume RUN_DIR).")
            cfg = resolve(config, set_ or [])
            run = RunDir(out).create(overwrite=overwrite)
        with run.replacing():  # a replaced run comes back if this one fails
            summary = run_simulation(cfg, run, resume=resume is not None)
    except FedrecError as err:
        fail(err)
        return
    print_summary(summary, cfg.eval.k)
    fed = summary.get("federation", {})
    console.print(
        f"federation: {fed.get('rounds')} rounds, {fed.get('clients')} clients, "
        f"{fed.get('bytes_sent_per_client_round', 0) / 1024:.1f} KiB sent per client per round"
    )
    console.print(round_times(fed))
    console.print(f"run directory: [bold]{run.path}[/]")


def round_times(fed: dict[str, Any]) -> str:
    """Where a mean round's time went, in one line."""
    parts = [f"training {fed.get('train_phase_seconds_mean', 0.0):.1f} s"]
    if fed.get("client_train_seconds_mean") is not None:
        parts.append(f"of which the clients' own {fed['client_train_seconds_mean']:.1f} s")
    if fed.get("overhead_per_client_seconds_mean") is not None:
        per = fed["overhead_per_client_seconds_mean"]
        parts.append(f"framework {per * 1000:.0f} ms per sampled client")
    parts.append(f"client evaluation {fed.get('client_eval_phase_seconds_mean', 0.0):.1f} s")
    return (
        f"round time (mean): {fed.get('round_seconds_mean', 0.0):.1f} s ({', '.join(parts)}), "
        f"then server evaluation {fed.get('server_eval_seconds_mean', 0.0):.1f} s"
    )


def resume_config(run: Any, config: Path | None, overrides: list[str]) -> Any:
    """A run's saved config; only ``num-server-rounds`` may change (to run longer)."""
    from fedrec.config import build_config, parse_overrides

    extra = parse_overrides(overrides)
    if config or set(extra) - {"num-server-rounds"}:
        raise FedrecError(
            "--resume continues a run with its saved config; only --set num-server-rounds=N "
            "may be given (to extend it)."
        )
    if run.read_kind() != "federated":
        raise FedrecError(
            f"{run.path} is not a federated run ('fedrec train' runs cannot be resumed): "
            "train it again, with --overwrite to replace it."
        )
    cfg = build_config(run.read_raw_config() | extra)
    done = run.rounds_done()
    rounds = cfg.federation.num_server_rounds
    if rounds < done or (rounds == done and (run.path / "summary.json").is_file()):
        raise FedrecError(
            f"{run.path} has run {done} rounds already"
            + (" and is finished" if rounds == done else f", more than num-server-rounds={rounds}")
            + f": to run longer, --set num-server-rounds=N with N > {done}."
        )
    return cfg


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by train or simulate.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    recompute: Annotated[
        bool, typer.Option(help="Re-score the saved model instead of reading summary.json.")
    ] = False,
) -> None:
    """Show (or recompute) a run's evaluation: model, slices and baselines."""
    setup(quiet=True)
    from fedrec.runs.centralized import evaluate_run
    from fedrec.runs.rundir import RunDir

    try:
        run = RunDir(run_dir).require()
        if recompute:
            summary = evaluate_run(run)
            if not (run.path / "summary.json").exists():
                run.write_summary(summary)  # a run that stopped after saving its model
        else:
            summary = run.read_summary()
        k = int(run.read_raw_config().get("k", 10))
    except FedrecError as err:
        fail(err)
        return
    if as_json:
        typer.echo(json.dumps(json_safe(summary), indent=2))
    else:
        print_summary(summary, k)


@app.command()
def sweep(
    config: Annotated[Path, typer.Option("--config", "-c", help="Sweep file (a sweep table).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the runs and table.")],
    set_: SetOpt = None,
) -> None:
    """Privacy/utility sweep: one federated run per (privacy mode, ε), a table and a plot."""
    setup()
    from fedrec.runs.sweep import run_sweep

    try:
        table = run_sweep(config, out, overrides=set_ or [])
    except FedrecError as err:
        fail(err)
        return
    console.print((table.parent / "sweep.md").read_text())
    console.print(f"table: {table}; plot: {table.parent / 'sweep.png'}")
