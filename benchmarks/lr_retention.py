"""Test NDCG@10 against the learning rate, with and without DP, from finished runs.

Reads each run directory's ``config.toml`` (dataset, lr, privacy mode, local
epochs) and ``summary.json`` (test NDCG@10, popularity, whether it was
federated), prints one table (retention = DP over non-private at the same
dataset, setting and lr; and DP over the best non-private run of that dataset
and setting) and draws one panel per dataset, one line per setting and
privacy mode, popularity as a reference line. ``--rounds-out`` also draws the
federated runs' validation NDCG@10 round by round.

    python benchmarks/lr_retention.py runs/*-lr*/ runs/silo-*/ --out docs/img/lr-retention.png
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

from fedrec.plots import plot_curves

NON_PRIVATE = "non-private"


@dataclass(frozen=True)
class Run:
    dataset: str
    lr: float
    setting: str  # "centralized" or "federated"
    mode: str  # "non-private" or "DP (local, ε = 8.0, 8 local epochs)"
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
    federated = "federation" in summary
    return Run(
        dataset=cfg["dataset"],
        lr=float(cfg["lr"]),
        setting="federated" if federated else "centralized",
        mode=_mode(
            cfg["privacy-mode"],
            summary.get("privacy", {}).get("epsilon"),
            int(cfg["local-epochs"]) if federated else None,
        ),
        ndcg=float(summary["test"]["ndcg@10"]),
        popularity=popularity.get("ndcg@10"),
    )


def _mode(privacy_mode: str, epsilon: float | None, local_epochs: int | None) -> str:
    if privacy_mode == "off":
        return NON_PRIVATE
    parts = [privacy_mode]
    if epsilon:
        parts.append(f"ε = {epsilon:.1f}")
    if local_epochs is not None:
        parts.append(f"{local_epochs} local epoch{'s' if local_epochs != 1 else ''}")
    return f"DP ({', '.join(parts)})"


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def plot_rounds(paths: list[Path], runs: list[Run], out: Path) -> None:
    """Validation NDCG@10 after each round of every federated run, one line each."""
    curves, rounds = {}, 0
    for path, run in zip(paths, runs, strict=True):
        if run.setting != "federated":
            continue
        records = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        curve = [r["val_ndcg@10"] for r in records if r["round"] > 0]
        curves[f"{run.dataset}, lr {run.lr:g}, {run.mode}"] = curve
        rounds = max(rounds, len(curve))
    curves = {k: v + [float("nan")] * (rounds - len(v)) for k, v in curves.items()}
    pops = [r.popularity for r in runs if r.popularity is not None]
    plot_curves(
        out,
        range(1, rounds + 1),
        curves,
        xlabel="round",
        ylabel="validation NDCG@10",
        title="Federated runs, round by round",
        references={"popularity (test)": pops[0]} if pops else None,
    )
    print(f"plot: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run directories")
    parser.add_argument("--out", type=Path, help="PNG to write")
    parser.add_argument("--rounds-out", type=Path, help="PNG of validation NDCG@10 by round")
    args = parser.parse_args()
    runs = [read_run(p) for p in args.runs]
    if args.rounds_out:
        plot_rounds(args.runs, runs, args.rounds_out)

    lines: dict[tuple[str, str, str], dict[float, float]] = defaultdict(dict)
    for r in runs:
        lines[(r.dataset, r.setting, r.mode)][r.lr] = r.ndcg
    header = "dataset | setting | DP run | lr | non-private | DP | retention | of best non-private"
    print(f"| {header} |")
    print("|---|---|---|---|---|---|---|---|")
    for (dataset, setting, mode), private in sorted(lines.items()):
        if mode == NON_PRIVATE:
            continue
        plain = lines.get((dataset, setting, NON_PRIVATE), {})
        best = max(plain.values(), default=None)
        for lr in sorted(set(plain) | set(private)):
            a, b = plain.get(lr), private.get(lr)
            keep = f"{b / a:.1%}" if a and b is not None else ""
            keep_best = f"{b / best:.1%}" if best and b is not None else ""
            print(
                f"| {dataset} | {setting} | {mode} | {lr:g} | {_cell(a)} | {_cell(b)} "
                f"| {keep} | {keep_best} |"
            )

    if args.out:
        datasets = sorted({r.dataset for r in runs})
        fig, axes = plt.subplots(
            1, len(datasets), figsize=(6.4 * len(datasets), 4.2), squeeze=False
        )
        for ax, dataset in zip(axes[0], datasets, strict=True):
            for (name, setting, mode), curve in sorted(lines.items()):
                if name != dataset:
                    continue
                xs = sorted(curve)
                style = "-" if mode == NON_PRIVATE else "--"
                ax.plot(
                    xs,
                    [curve[x] for x in xs],
                    style,
                    marker="o",
                    label=f"{setting}, {mode}",
                )
            pops = [r.popularity for r in runs if r.dataset == dataset and r.popularity is not None]
            if pops:
                ax.axhline(float(pops[0]), color="grey", linestyle=":", label="popularity")
            ax.set_xscale("log")
            ax.set_xlabel("learning rate")
            ax.set_ylabel("test NDCG@10")
            ax.set_title(f"{dataset}: learning rate, with and without DP-SGD")
            ax.legend(fontsize=8)
        fig.tight_layout()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, dpi=120)
        print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
