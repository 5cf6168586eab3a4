"""Test NDCG@10 against the learning rate, with and without DP, from finished runs.

Reads each run directory's ``config.toml`` (lr, privacy mode, whether it was
federated) and ``summary.json`` (test NDCG@10, popularity), prints one table
(retention = DP over non-private at the same lr and setting) and draws one
line per setting and privacy mode, popularity as a reference line.

    python benchmarks/lr_retention.py runs/c-np-lr* runs/c-dp8-lr* --out docs/img/lr-retention.png
"""

from __future__ import annotations

import argparse
import json
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

NON_PRIVATE = "non-private"


@dataclass(frozen=True)
class Run:
    lr: float
    setting: str  # "centralized" or "federated"
    mode: str  # "non-private" or "DP (local, ε = 8.0)"
    ndcg: float
    popularity: float | None


def read_run(path: Path) -> Run:
    """lr, setting, mode, test and popularity NDCG@10 of one finished run."""
    config_file, summary_file = path / "config.toml", path / "summary.json"
    if not config_file.is_file() or not summary_file.is_file():
        raise SystemExit(f"{path}: not a finished run (needs config.toml and summary.json).")
    cfg = tomllib.loads(config_file.read_text())["fedrec"]
    summary = json.loads(summary_file.read_text())
    popularity = summary.get("baselines", {}).get("popularity", {}).get("test", {})
    return Run(
        lr=float(cfg["lr"]),
        setting="federated" if "federation" in summary else "centralized",
        mode=_mode(cfg["privacy-mode"], summary.get("privacy", {}).get("epsilon")),
        ndcg=float(summary["test"]["ndcg@10"]),
        popularity=popularity.get("ndcg@10"),
    )


def _mode(privacy_mode: str, epsilon: float | None) -> str:
    if privacy_mode == "off":
        return NON_PRIVATE
    return f"DP ({privacy_mode}, ε = {epsilon:.1f})" if epsilon else f"DP ({privacy_mode})"


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run directories")
    parser.add_argument("--out", type=Path, help="PNG to write")
    args = parser.parse_args()
    runs = [read_run(p) for p in args.runs]

    lines: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)
    for r in runs:
        lines[(r.setting, r.mode)][r.lr] = r.ndcg
    print("| setting | DP run | lr | non-private | DP | retention |")
    print("|---|---|---|---|---|---|")
    for (setting, mode), private in sorted(lines.items()):
        if mode == NON_PRIVATE:
            continue
        plain = lines.get((setting, NON_PRIVATE), {})
        for lr in sorted(set(plain) | set(private)):
            a, b = plain.get(lr), private.get(lr)
            keep = f"{b / a:.1%}" if a and b is not None else ""
            print(f"| {setting} | {mode} | {lr:g} | {_cell(a)} | {_cell(b)} | {keep} |")

    if args.out:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for (setting, mode), curve in sorted(lines.items()):
            xs = sorted(curve)
            style = "-" if mode == "non-private" else "--"
            ax.plot(xs, [curve[x] for x in xs], style, marker="o", label=f"{setting}, {mode}")
        pops = [r.popularity for r in runs if r.popularity is not None]
        if pops:
            ax.axhline(float(pops[0]), color="grey", linestyle=":", label="popularity")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("test NDCG@10")
        ax.set_title("Learning rate, with and without DP-SGD")
        ax.legend(fontsize=8)
        fig.tight_layout()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, dpi=120)
        print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
