"""Write an audit report: ``audit.json``, ``audit.md`` and ``audit_epsilon.png``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from fedrec.audit.results import AuditReport
from fedrec.files import atomic_write_bytes, atomic_write_json, atomic_write_text


def to_markdown(report: AuditReport) -> str:
    """The report as Markdown: header, guarantee, per-client table, findings, plot."""
    status = "PASSED" if report.ok else f"FAILED ({len(report.findings)} findings)"
    lines = [
        "# Privacy audit",
        "",
        f"- Run: `{report.run_dir}`",
        f"- Mode: {report.mode}; privacy unit: {report.unit}",
        f"- Ledger lines: {report.lines}; rounds: {report.rounds}; clients: {len(report.clients)}",
        f"- Accountant (recomputation): {report.accountant}; tolerance {report.tolerance:g}",
        f"- Budget: {'none' if report.budget is None else f'ε ≤ {report.budget:g}'}",
        f"- Result: **{status}**",
        "",
        "## Guarantee",
        "",
        report.guarantee(),
        "",
        "## Checked",
        "",
        *([f"- {c}" for c in report.checks] or ["- Nothing beyond the recomputation."]),
        "",
        "## Clients",
        "",
    ]
    lines += _central_clients(report) if report.mode == "central" else _client_table(report)
    lines += ["", "## Findings", ""]
    lines += [f"- **{f.kind}**: {f.message}" for f in report.findings] or ["None."]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    lines += ["", "![ε over rounds](audit_epsilon.png)", ""]
    return "\n".join(lines)


def _client_table(report: AuditReport) -> list[str]:
    lines = [
        "| client | rounds trained | ε reported | ε recomputed | ε (RDP) | δ | budget left |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in report.clients:
        lines.append(
            f"| {c.client} | {c.rounds} | {c.epsilon_reported:.4g} | {c.epsilon:.4g} | "
            f"{c.epsilon_rdp:.4g} | {c.delta:.2e} | {_opt(c.budget_left)} |"
        )
    return lines


def _central_clients(report: AuditReport) -> list[str]:
    """Central DP: no per-client rows. Which clients took part in which round is what the
    amplified ε needs kept secret, so this shareable report gives the spread of ε only
    (every client's line is in audit.json, which stays with the run's operator)."""
    eps = [c.epsilon for c in report.clients]
    if not eps:
        return ["No client spent privacy."]
    return [
        f"{len(eps)} clients; ε with the amplification of sampling: from {min(eps):.4g} to "
        f"{max(eps):.4g} (every release spends every client's privacy alike). Per-client "
        "participation is not listed here: it would undercut that amplification. "
        "`audit.json` holds each client's lines and stays with the run's operator.",
    ]


def _opt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def write_report(report: AuditReport, out_dir: str | Path) -> list[Path]:
    """Write ``audit.json``, ``audit.md`` and ``audit_epsilon.png`` (each atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "audit.json", out / "audit.md", out / "audit_epsilon.png"]
    atomic_write_json(paths[0], report.as_dict())
    atomic_write_text(paths[1], to_markdown(report))
    plot_epsilon(report, paths[2])
    return paths


def plot_epsilon(report: AuditReport, path: Path) -> None:
    """Recomputed cumulative ε over rounds, one line per client, the worst one marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    segments = [
        np.column_stack([c.curve_rounds, c.curve_epsilon]) for c in report.clients if c.curve_rounds
    ]
    if segments:
        ax.add_collection(LineCollection(segments, linewidths=0.8, alpha=0.35, colors="C0"))
        ax.autoscale()
    worst = report.worst
    if worst is not None:
        ax.plot(
            worst.curve_rounds,
            worst.curve_epsilon,
            color="C3",
            marker="o",
            markersize=3,
            label=f"worst: client {worst.client}",
        )
    if report.budget is not None:
        ax.axhline(report.budget, linestyle="--", color="k", label=f"budget ε = {report.budget:g}")
    ax.set_xlabel("epoch" if report.centralized else "round")
    ax.set_ylabel("cumulative ε (recomputed)")
    ax.set_title(f"Privacy spent per client ({len(report.clients)} clients)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
