"""``fedrec deploy``: bring up a deployment (``init``) or all of it on this machine (``demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedrec.cli.common import ConfigOpt, SetOpt, console, deploy_app, fail, setup
from fedrec.errors import FedrecError


@deploy_app.command("demo")
def deploy_demo(
    out: Annotated[Path, typer.Option("--out", help="New directory for everything.")],
    nodes: Annotated[int, typer.Option(help="SuperNodes to start.")] = 3,
    rounds: Annotated[int, typer.Option(help="Server rounds.")] = 2,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds the run may take.")] = 1800.0,
) -> None:
    """A SuperLink (TLS, node authentication, database) and NODES SuperNodes with their own
    data on 127.0.0.1, the app run with local DP, then the audit; every process stopped.

    Exits 0 only if the run finished, the audit passed and an unregistered node was refused."""
    setup(quiet=True)
    from fedrec.config.parse import load_toml, parse_overrides
    from fedrec.deploy.demo import run_demo

    try:
        values = (load_toml(config) if config else {}) | parse_overrides(set_ or [])
        result = run_demo(
            values, out, nodes=nodes, rounds=rounds, timeout=timeout, say=console.print
        )
    except FedrecError as err:
        fail(err)
        return
    privacy = result.summary.get("privacy", {})
    test = result.summary.get("test", {})
    console.print(
        f"run {'finished' if result.finished else 'FAILED'} in {result.seconds:.0f} s: "
        f"test NDCG@10 {test.get('ndcg@10', float('nan')):.4f}, "
        f"ε {privacy.get('epsilon', float('nan')):.2f} (δ {privacy.get('delta', float('nan')):g})"
    )
    verdict = "passed" if result.audit_ok else "FAILED"
    console.print(f"audit {verdict}: {result.run_dir / 'audit.md'}")
    if not result.ok:
        raise typer.Exit(code=1)


@deploy_app.command("init")
def deploy_init(
    out: Annotated[Path, typer.Option("--out", help="New directory for the deployment.")],
    host: Annotated[
        list[str],
        typer.Option("--host", help="SuperLink host name or IP the nodes use (repeatable)."),
    ],
    nodes: Annotated[int, typer.Option(help="SuperNodes (one key pair each).")] = 3,
    port: Annotated[int, typer.Option(help="The SuperLink's port.")] = 9093,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="No TLS, no node authentication (testing only).")
    ] = False,
) -> None:
    """Certificates (CA + SuperLink with these hosts as SANs), node key pairs, the
    operator's flwr connection and run config, and COMMANDS.md with every command to run."""
    setup(quiet=True)
    from fedrec.config import APP_PRIVACY_DEFAULTS, build_config
    from fedrec.config.parse import load_toml, parse_overrides
    from fedrec.deploy.bringup import commands_text, init_deployment
    from fedrec.deploy.commands import INSECURE_WARNING

    if insecure:
        console.print(f"[bold red]{INSECURE_WARNING}[/]")
    try:
        values = (load_toml(config) if config else {}) | parse_overrides(set_ or [])
        cfg = build_config(APP_PRIVACY_DEFAULTS | values | {"num-clients": nodes})
        plan = init_deployment(out, cfg, nodes, host, port, insecure=insecure)
    except FedrecError as err:
        fail(err)
        return
    text = commands_text(out.resolve(), plan, insecure=insecure)
    (out / "COMMANDS.md").write_text(text, encoding="utf-8")
    typer.echo(text)
