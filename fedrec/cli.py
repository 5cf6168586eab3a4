"""The ``fedrec`` command line.

Configuration is a TOML file plus ``--set KEY=VALUE`` overrides, with the same
kebab-case keys as ``[tool.flwr.app.config]``. ``fedrec config`` lists them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from fedrec.errors import FedrecError

app = typer.Typer(
    help="Federated, privacy-preserving recommendation with LoRA on BERT-family text models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Look at datasets before training on them.", no_args_is_help=True)
app.add_typer(data_app, name="data")
superlink_app = typer.Typer(
    help="A local Flower SuperLink for 'flwr run .' that uses this environment (no uv installs).",
    no_args_is_help=True,
)
app.add_typer(superlink_app, name="superlink")
# Tables are wide: do not squeeze them to 80 columns when output is not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a key: --set KEY=VALUE (repeatable)."),
]
METRIC_ORDER = ("hr", "recall", "ndcg", "mrr", "coverage", "diversity", "novelty")


def _setup(quiet: bool = False) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("httpx", "transformers", "urllib3", "filelock", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Notices addressed to the maintainers of our dependencies, not to fedrec's users.
    warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
    warnings.filterwarnings("ignore", "Tip: In future versions of Ray", FutureWarning)
    # Flower prints through its own handler; keep its round-by-round chatter out of ours.
    flwr_log = logging.getLogger("flwr")
    flwr_log.propagate = False
    flwr_log.setLevel(logging.WARNING)


def _fail(err: Exception) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(err))}")
    raise typer.Exit(code=2)


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train the recommender centrally (the reference run) and evaluate it beside baselines."""
    _setup(quiet)
    from fedrec.centralized import train_centralized
    from fedrec.config import resolve
    from fedrec.rundir import RunDir

    try:
        cfg = resolve(config, set_ or [])
        run = RunDir(out).create(overwrite=overwrite)
        summary = train_centralized(cfg, run, progress=not quiet)
    except FedrecError as err:
        _fail(err)
        return
    _print_summary(summary, cfg.eval.k)
    console.print(f"run directory: [bold]{out}[/]")


def _print_privacy(summary: dict[str, Any]) -> None:
    if "privacy" not in summary:
        return
    privacy = summary["privacy"] or {}
    if privacy.get("mode", "off") == "off":
        console.print("[bold yellow]privacy: OFF[/] (no differential privacy guarantee)")
        return
    if privacy.get("mode") == "central":
        console.print(
            f"privacy: central DP-FedAvg, ({privacy['epsilon']:.2f}, {privacy['delta']:.1e})-DP "
            f"per client for the released models; {privacy['epsilon_unsampled']:.2f} against "
            f"anyone who knows who took part; noise {privacy['noise_multiplier']:.2f}, clip "
            f"{privacy['max_grad_norm']:g}, {privacy['releases']} releases at rate "
            f"{privacy['sample_rate']:.3f}"
        )
        return
    console.print(
        f"privacy: DP-SGD, ({privacy['epsilon']:.2f}, {privacy['delta']:.1e})-DP per "
        f"{privacy['unit']}, noise {privacy['noise_multiplier']:.2f}, clip "
        f"{privacy['max_grad_norm']:g}, {privacy['steps']} steps at rate "
        f"{privacy['sample_rate']:.3f}"
    )


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
    _setup(quiet)
    from fedrec.config import resolve
    from fedrec.federated.flower import simulate as run_simulation
    from fedrec.rundir import RunDir

    try:
        if resume is not None:
            run = RunDir(resume).require()
            cfg = resume_config(run, config, set_ or [])
        else:
            if out is None:
                raise FedrecError("give --out RUN_DIR (or --resume RUN_DIR).")
            cfg = resolve(config, set_ or [])
            run = RunDir(out).create(overwrite=overwrite)
        summary = run_simulation(cfg, run, resume=resume is not None)
    except FedrecError as err:
        _fail(err)
        return
    _print_summary(summary, cfg.eval.k)
    fed = summary.get("federation", {})
    console.print(
        f"federation: {fed.get('rounds')} rounds, {fed.get('clients')} clients, "
        f"{fed.get('bytes_sent_per_client_round', 0) / 1024:.1f} KiB sent per client per round"
    )
    console.print(f"run directory: [bold]{run.path}[/]")


def resume_config(run: Any, config: Path | None, overrides: list[str]) -> Any:
    """A run's saved config; only ``num-server-rounds`` may change (to run longer)."""
    from fedrec.config import build_config, parse_overrides

    extra = parse_overrides(overrides)
    if config or set(extra) - {"num-server-rounds"}:
        raise FedrecError(
            "--resume continues a run with its saved config; only --set num-server-rounds=N "
            "may be given (to extend it)."
        )
    return build_config(run.read_raw_config() | extra)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by train or simulate.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    recompute: Annotated[
        bool, typer.Option(help="Re-score the saved model instead of reading summary.json.")
    ] = False,
) -> None:
    """Show (or recompute) a run's evaluation: model, slices and baselines."""
    _setup(quiet=True)
    from fedrec.centralized import evaluate_run
    from fedrec.rundir import RunDir

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
        _fail(err)
        return
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_summary(summary, k)


@app.command()
def audit(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with a privacy ledger.")],
    budget: Annotated[
        float | None,
        typer.Option(help="Budget ε to check every client against (default: the run's)."),
    ] = None,
    accountant: Annotated[
        str, typer.Option(help="Accountant for the recomputation: rdp or prv.")
    ] = "rdp",
    tolerance: Annotated[
        float, typer.Option(help="Allowed relative difference of reported and recomputed ε.")
    ] = 0.01,
    out: Annotated[
        Path | None, typer.Option(help="Where to write audit.md/json/png (default: RUN_DIR).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    empirical: Annotated[
        bool,
        typer.Option(
            help="Also re-run the run's mechanism with canaries and lower-bound its ε "
            "(works on non-private runs too)."
        ),
    ] = False,
    canaries: Annotated[int, typer.Option(help="Canaries of the empirical audit.")] = 1000,
) -> None:
    """Recompute every client's ε from the privacy ledger; exit 1 on any breach or mismatch."""
    _setup(quiet=True)
    from fedrec.privacy.audit import audit_run
    from fedrec.privacy.audit_report import write_report
    from fedrec.privacy.ledger import LEDGER

    failed = False
    result: dict[str, Any] = {}
    try:
        if canaries < 10:
            raise FedrecError(f"--canaries={canaries}: give at least 10 (1000 or more is best).")
        if not (empirical and not (run_dir / LEDGER).exists()):
            report = audit_run(run_dir, budget=budget, accountant=accountant, tolerance=tolerance)
            paths = write_report(report, out or run_dir)
            result = json.loads(paths[0].read_text())
            failed = not report.ok
            if not as_json:
                _print_audit(report, paths)
        if empirical:
            from fedrec.privacy.canary_audit import empirical_audit
            from fedrec.rundir import _atomic_write

            found = empirical_audit(str(run_dir), canaries, progress=not as_json)
            result["empirical"] = found.as_dict()
            target = (out or run_dir) / "audit_empirical.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(target, json.dumps(_json_safe(found.as_dict()), indent=2) + "\n")
            failed = failed or found.broken
            if not as_json:
                console.print(found.sentence())
                if found.broken:
                    console.print(
                        "[bold red]BROKEN:[/] the measured lower bound is above the theoretical "
                        "ε: this DP implementation leaks more than its accounting says."
                    )
    except FedrecError as err:
        _fail(err)
        return
    if as_json:
        typer.echo(json.dumps(_json_safe(result), indent=2))
    if failed:
        raise typer.Exit(code=1)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def _print_audit(report: Any, paths: list[Path]) -> None:
    table = Table(
        "client",
        "rounds",
        "ε reported",
        "ε recomputed",
        "δ",
        "budget left",
        title=f"privacy audit: {report.mode} DP per {report.unit} ({report.accountant})",
    )
    if report.mode == "central":
        table.add_column("ε unsampled")
    shown = sorted(report.clients, key=lambda c: -c.epsilon)
    for c in shown[:20]:
        row = [
            str(c.client),
            str(c.rounds),
            f"{c.epsilon_reported:.4g}",
            f"{c.epsilon:.4g}",
            f"{c.delta:.1e}",
            "–" if c.budget_left is None else f"{c.budget_left:.4g}",
        ]
        if report.mode == "central":
            row.append(f"{c.epsilon_unsampled:.4g}")
        table.add_row(*row)
    console.print(table)
    if len(shown) > 20:
        console.print(f"(the 20 highest of {len(shown)} clients; all are in audit.md)")
    console.print(report.guarantee())
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for finding in report.findings[:50]:
        console.print(f"[bold red]{finding.kind}:[/] {escape(finding.message)}")
    if len(report.findings) > 50:
        console.print(f"... {len(report.findings) - 50} more findings in audit.md")
    verdict = "[bold green]PASSED[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(f"audit {verdict}; report: {', '.join(str(p) for p in paths)}")


@app.command()
def sweep(
    config: Annotated[Path, typer.Option("--config", "-c", help="Sweep file (with [sweep]).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the runs and table.")],
    set_: SetOpt = None,
) -> None:
    """Privacy/utility sweep: one federated run per (privacy mode, ε), a table and a plot."""
    _setup()
    from fedrec.sweep import run_sweep

    try:
        table = run_sweep(config, out, overrides=set_ or [])
    except FedrecError as err:
        _fail(err)
        return
    console.print((table.parent / "sweep.md").read_text())
    console.print(f"table: {table}; plot: {table.parent / 'sweep.png'}")


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
    _setup(quiet=True)
    from fedrec.centralized import prepare_split
    from fedrec.config import resolve
    from fedrec.data import load_dataset

    try:
        cfg = resolve(config, set_ or [])
        ds = load_dataset(cfg.data, seed=cfg.train.seed)
        split = prepare_split(cfg)
    except FedrecError as err:
        _fail(err)
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


@superlink_app.command("start")
def superlink_start() -> None:
    """Start the local SuperLink on 127.0.0.1:39091 with runtime dependency installs off."""
    from fedrec.federated import superlink

    try:
        pid = superlink.start()
    except FedrecError as err:
        _fail(err)
        return
    console.print(f"local SuperLink running (pid {pid}); now: flwr run . --stream")


@superlink_app.command("stop")
def superlink_stop() -> None:
    """Stop the local SuperLink that 'fedrec superlink start' started."""
    from fedrec.federated import superlink

    console.print("stopped" if superlink.stop() else "no SuperLink started by fedrec is running")


@superlink_app.command("status")
def superlink_status() -> None:
    """Say whether a SuperLink answers on the local port."""
    from fedrec.federated import superlink

    console.print("running" if superlink.is_running() else "not running")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _print_summary(summary: dict[str, Any], k: int) -> None:
    keys = [f"{m}@{k}" if m != "mrr" else "mrr" for m in METRIC_ORDER]
    table = Table("method", "slice", *keys, "users", title="full-ranking evaluation")
    for column in table.columns:
        column.no_wrap = True
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for slice_name in ("test", "cold_items", "cold_users"):
        if slice_name in summary:
            rows.append(("model", slice_name, summary[slice_name]))
    for name, metrics in summary.get("scenarios", {}).items():
        rows.append(("model", f"scenario:{name}", metrics))
    for base, result in summary.get("baselines", {}).items():
        for slice_name in ("test", "cold_items", "cold_users"):
            rows.append((base, slice_name, result.get(slice_name, {})))
    for method, slice_name, metrics in rows:
        table.add_row(
            method,
            slice_name,
            *[_fmt(metrics.get(key)) for key in keys],
            _fmt(metrics.get("users")),
        )
    console.print(table)
    _print_privacy(summary)


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
