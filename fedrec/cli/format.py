"""Tables and sentences the commands print: evaluation, privacy, audit."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from fedrec.cli.common import console

METRIC_ORDER = ("hr", "recall", "ndcg", "mrr", "coverage", "diversity", "novelty")


def print_privacy(summary: dict[str, Any]) -> None:
    if "privacy" not in summary:
        return
    privacy = summary["privacy"] or {}
    if privacy.get("mode", "off") == "off":
        console.print("[bold yellow]privacy: OFF[/] (no differential privacy guarantee)")
        return
    if "delta" not in privacy:
        console.print(f"privacy: {privacy.get('mode')} DP, but no client trained: nothing spent")
        return
    if privacy.get("mode") == "central":
        console.print(
            f"privacy: central DP-FedAvg, ({privacy['epsilon']:.2f}, {privacy['delta']:.1e})-DP "
            f"per client for the released models; {privacy['epsilon_unsampled']:.2f} against "
            f"anyone who knows who took part; noise {privacy['noise_multiplier']:.2f}, clip "
            f"{privacy['max_grad_norm']:g}, {privacy['releases']} releases at rate "
            f"{privacy['sample_rate']:.3f}"
        )
        if privacy.get("secure_aggregation"):
            console.print(
                "secure aggregation (SecAgg+): the server saw only sums of 2 or more clients' "
                "clipped updates, never one alone"
            )
        return
    console.print(
        f"privacy: DP-SGD, ({privacy['epsilon']:.2f}, {privacy['delta']:.1e})-DP per "
        f"{privacy['unit']}, noise {privacy['noise_multiplier']:.2f}, clip "
        f"{privacy['max_grad_norm']:g}, {privacy['steps']} steps at rate "
        f"{privacy['sample_rate']:.3f}"
    )


def print_audit(report: Any, paths: list[Path]) -> None:
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
        console.print(f"(the 20 highest of {len(shown)} clients; every client is in audit.json)")
    console.print(report.guarantee())
    for check in report.checks:
        console.print(f"[green]checked:[/] {escape(check)}")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for finding in report.findings[:50]:
        console.print(f"[bold red]{finding.kind}:[/] {escape(finding.message)}")
    if len(report.findings) > 50:
        console.print(f"... {len(report.findings) - 50} more findings in audit.md")
    verdict = "[bold green]PASSED[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(f"audit {verdict}; report: {', '.join(str(p) for p in paths)}")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def print_summary(summary: dict[str, Any], k: int) -> None:
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
        cells = [_fmt(metrics.get(key)) for key in keys]
        se = metrics.get(f"ndcg@{k}_se")
        if isinstance(se, float) and not math.isnan(se):  # NDCG's standard error beside it
            cells[METRIC_ORDER.index("ndcg")] += f" ±{se:.4f}"
        table.add_row(method, slice_name, *cells, _fmt(metrics.get("users")))
    console.print(table)
    print_scenarios(summary, k)
    print_cold_users_curve(summary, k)
    print_privacy(summary)


def print_scenarios(summary: dict[str, Any], k: int) -> None:
    """Test NDCG@K per scenario, the model beside every baseline (one row per method)."""
    scenarios = list(summary.get("scenarios") or {})
    if len(scenarios) < 2:
        return
    table = Table("method", *map(escape, scenarios), title=f"test NDCG@{k} by scenario")
    rows = [("model", summary["scenarios"])]
    rows += [(n, r.get("scenarios") or {}) for n, r in summary.get("baselines", {}).items()]
    for method, per in rows:
        table.add_row(method, *[_fmt(per.get(s, {}).get(f"ndcg@{k}")) for s in scenarios])
    console.print(table)


def print_cold_users_curve(summary: dict[str, Any], k: int) -> None:
    """Cold users' and new-to-scenario users' NDCG@K by how many clicks are known (one
    row per method)."""
    titles = {
        "cold_users_curve": ("clicks", "cold users by first clicks known"),
        "new_to_scenario_curve": (
            "in it",
            "users new to a scenario (history elsewhere kept), by events known in it",
        ),
    }
    for name, (unit, title) in titles.items():
        curve = summary.get(name) or {}
        if not curve:
            continue
        clicks = sorted(curve, key=int)
        users = _fmt(curve[clicks[0]].get("users"))
        table = Table(
            "method", *[f"{c} {unit}" for c in clicks], title=f"{title}: NDCG@{k}, {users} users"
        )
        rows = [("model", curve), ("model, no profile", summary.get(f"{name}_no_profile"))]
        rows += [(n, r.get(name)) for n, r in summary.get("baselines", {}).items()]
        for method, points in rows:
            if points:
                table.add_row(method, *[_fmt(points[c].get(f"ndcg@{k}")) for c in clicks])
        console.print(table)
