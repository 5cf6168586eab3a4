"""PNG plots next to the numbers (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_curves(
    path: str | Path,
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    references: Mapping[str, float] | None = None,
    logx: bool = False,
) -> Path:
    """Line plot of one or more curves over ``x``, with optional horizontal reference lines."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, ys in curves.items():
        ax.plot(list(x), list(ys), marker="o", label=label)
    for i, (label, value) in enumerate((references or {}).items()):
        if value is not None:
            ax.axhline(value, linestyle="--", color=f"C{i + len(curves)}", label=label)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
