"""``fedrec audit``: the ledger audit and, on request, the canary audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fedrec.cli.common import app, console, fail, setup
from fedrec.cli.format import print_audit
from fedrec.errors import FedrecError


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
    """Recompute every client's ε from the privacy ledger; exit 1 on any breach or mismatch.

    With --empirical, exit 1 when the canaries show more leakage than the theoretical ε,
    and 3 when the audit is inconclusive (the theoretical ε is above what the canaries
    can certify)."""
    setup(quiet=True)
    from fedrec.audit.ledger_audit import audit_run
    from fedrec.audit.report import write_report
    from fedrec.files import atomic_write_json, json_safe
    from fedrec.privacy.ledger import LEDGER

    failed = inconclusive = False
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
                print_audit(report, paths)
        if empirical:
            from fedrec.audit.canary import empirical_audit

            found = empirical_audit(str(run_dir), canaries, progress=not as_json)
            result["empirical"] = found.as_dict()
            target = (out or run_dir) / "audit_empirical.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(target, found.as_dict())
            failed = failed or found.broken
            inconclusive = found.verdict == "inconclusive"
            if not as_json:
                console.print(found.sentence())
                if found.broken:
                    console.print(
                        "[bold red]BROKEN:[/] the measured lower bound is above the theoretical "
                        "ε: this DP implementation leaks more than its accounting says."
                    )
    except FedrecError as err:
        fail(err)
        return
    if as_json:
        typer.echo(json.dumps(json_safe(result), indent=2))
    if failed:
        raise typer.Exit(code=1)
    if empirical and inconclusive:
        raise typer.Exit(code=3)  # not a pass: the canaries could not have caught a leak
