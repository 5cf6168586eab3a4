"""Privacy/utility sweeps: one federated run per (mode, ε), one table, one plot.

A sweep file is a normal config plus a ``[sweep]`` table, with optional keys
of each mode's own (local and central DP suit different federations)::

    num-server-rounds = 5
    [sweep]
    privacy-mode = ["local", "central"]
    target-epsilon = [1, 2, 4, 8]
    non-private = true          # add each mode's ε = ∞ reference run
    [sweep.central]
    num-clients = 60
    [sweep.local.private]       # the mode's DP points only, not its ε = ∞ run
    local-epochs = 8

Keys in ``[sweep.<mode>.private]`` tune the DP points of a mode (more local
epochs, say, help DP-SGD at a fixed ε and hurt the non-private run); the
non-private reference keeps the mode's shared keys.

Each point runs ``fedrec simulate`` in its own process into
``OUT/<mode>-eps<ε>/`` (a finished point is kept, so an interrupted sweep
continues where it stopped). :func:`collect` reads every point's summary and
writes ``OUT/sweep.csv``, ``OUT/sweep.md`` and ``OUT/sweep.png`` (test NDCG@K
against ε, one line per mode, the non-private models and popularity as
reference lines).
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedrec.config import build_config, parse_overrides, read_toml
from fedrec.errors import ConfigError
from fedrec.runs.rundir import RunDir

log = logging.getLogger(__name__)
MODES = ("local", "central")


@dataclass(frozen=True)
class SweepPoint:
    mode: str  # local | central: the setting this point belongs to
    epsilon: float  # math.inf: the non-private run of that setting
    extra: tuple[tuple[str, Any], ...] = ()  # the mode's own keys ([sweep.<mode>])
    private: tuple[tuple[str, Any], ...] = ()  # DP points only ([sweep.<mode>.private])

    @property
    def name(self) -> str:
        return f"{self.mode}-eps{self.epsilon:g}"

    def overrides(self) -> dict[str, Any]:
        if math.isinf(self.epsilon):
            return {**dict(self.extra), "privacy-mode": "off"}
        return {
            **dict(self.extra),
            **dict(self.private),
            "privacy-mode": self.mode,
            "target-epsilon": self.epsilon,
        }


def load_sweep(path: str | Path) -> tuple[dict[str, Any], list[SweepPoint]]:
    """The base config (flat keys) and the points of a sweep file."""
    doc = read_toml(path, "sweep file")
    grid = doc.pop("sweep", None)
    if not isinstance(grid, dict):
        raise ConfigError(
            f"{path} has no [sweep] table: add one with privacy-mode = [...] and "
            "target-epsilon = [...]."
        )
    base = dict(doc["fedrec"]) if isinstance(doc.get("fedrec"), dict) else doc
    unknown = set(grid) - {"privacy-mode", "target-epsilon", "non-private", *MODES}
    if unknown:
        raise ConfigError(
            f"[sweep] key(s) {sorted(unknown)} unknown: use privacy-mode, target-epsilon, "
            "non-private, and [sweep.local] / [sweep.central] tables for per-mode keys."
        )
    modes = list(grid.get("privacy-mode", MODES))
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ConfigError(f"[sweep] privacy-mode {bad} unknown: choose from {list(MODES)}.")
    eps = grid.get("target-epsilon", [])
    if not isinstance(eps, list) or not all(
        isinstance(e, int | float) and not isinstance(e, bool) and 0 < e < math.inf for e in eps
    ):
        raise ConfigError(
            f"[sweep] target-epsilon={eps!r}: give a list of positive numbers, like [1, 2, 4, 8] "
            "(the non-private point is non-private = true)."
        )
    non_private = grid.get("non-private", True)
    if not isinstance(non_private, bool):
        raise ConfigError(f"[sweep] non-private={non_private!r}: write true or false.")
    levels = [float(e) for e in eps] + ([math.inf] if non_private else [])
    points = []
    for mode in modes:
        extra = grid.get(mode, {})
        if not isinstance(extra, dict):
            raise ConfigError(f"[sweep.{mode}] must be a table of config keys.")
        extra = dict(extra)
        private = extra.pop("private", {})
        if not isinstance(private, dict):
            raise ConfigError(f"[sweep.{mode}.private] must be a table of config keys.")
        if "privacy-mode" in extra or "privacy-mode" in private:
            raise ConfigError(
                f"[sweep.{mode}] sets privacy-mode: the sweep sets it per point; remove it."
            )
        shared, own = tuple(sorted(extra.items())), tuple(sorted(private.items()))
        points += [SweepPoint(mode, e, shared, own) for e in levels]
    if not points:
        raise ConfigError("[sweep] has no points: give target-epsilon values or non-private.")
    for point in points:  # every point must be a valid config before anything runs
        build_config(base | point.overrides())
    return base, points


def run_sweep(path: str | Path, out: str | Path, *, overrides: list[str] | None = None) -> Path:
    """Run every point not yet finished, then write the table and plot; returns the table."""
    base, points = load_sweep(path)
    extra = parse_overrides(overrides or [])
    varied = sorted({"privacy-mode", "target-epsilon"} & set(extra))
    if varied:
        raise ConfigError(
            f"--set {varied[0]}: the sweep varies it point by point; change [sweep] instead."
        )
    for point in points:  # every point, with --set, must be a valid config before any runs
        build_config(base | point.overrides() | extra)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i, point in enumerate(points, start=1):
        run_dir = out / point.name
        values = base | point.overrides() | extra
        if (run_dir / "summary.json").is_file():
            _check_same(run_dir, values)
            log.info("[%d/%d] %s: done already", i, len(points), point.name)
            continue
        log.info("[%d/%d] %s: running", i, len(points), point.name)
        sets = [f"{k}={_text(v)}" for k, v in values.items()]
        cmd = [sys.executable, "-m", "fedrec", "simulate", "--quiet", "--overwrite"]
        cmd += ["--out", str(run_dir)] + [a for s in sets for a in ("--set", s)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ConfigError(
                f"sweep point {point.name} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
            )
    return collect(out, points)


def _check_same(run_dir: Path, values: dict[str, Any]) -> None:
    """Refuse to reuse a finished point run with other settings than ``values`` now give."""
    wanted = build_config(values).to_flat()
    saved = build_config(RunDir(run_dir).read_raw_config()).to_flat()
    differ = sorted(k for k in values if k in wanted and wanted[k] != saved.get(k))
    if differ:
        raise ConfigError(
            f"{run_dir} was run with other settings ({', '.join(differ[:5])} differ): choose "
            "another --out, or delete that folder to run the point again."
        )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):  # a TOML list: --set takes it comma-separated
        return ",".join(_text(v) for v in value)
    return str(value)


def collect(out: Path, points: list[SweepPoint]) -> Path:
    """Table (CSV and Markdown) and plot of every finished point."""
    import pandas as pd

    from fedrec.plots import plot_curves
    from fedrec.runs.rundir import RunDir

    rows = []
    for point in points:
        path = out / point.name / "summary.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text(encoding="utf-8"))
        k = int(RunDir(out / point.name).read_raw_config().get("k", 10))
        privacy = summary.get("privacy", {})
        rows.append(
            {
                "point": point.name,
                "mode": point.mode,
                "target_epsilon": point.epsilon,
                # JSON has no infinity: a non-private summary stores its ε as null.
                "epsilon": math.inf if math.isinf(point.epsilon) else privacy.get("epsilon"),
                "delta": privacy.get("delta"),
                f"test_ndcg@{k}": summary["test"][f"ndcg@{k}"],
                f"test_hr@{k}": summary["test"][f"hr@{k}"],
                f"popularity_ndcg@{k}": summary.get("baselines", {})
                .get("popularity", {})
                .get("test", {})
                .get(f"ndcg@{k}"),
                **_new_to_scenario(summary, k),
            }
        )
    table = pd.DataFrame(rows)
    csv = out / "sweep.csv"
    table.to_csv(csv, index=False)
    (out / "sweep.md").write_text(_markdown(table))
    if not table.empty:
        key = next(c for c in table.columns if c.startswith("test_ndcg@"))
        private = table[table["target_epsilon"] < math.inf]
        xs = sorted(set(private["target_epsilon"])) or [1.0]
        curves = {
            f"{mode} DP": _align(private[private["mode"] == mode], xs, key)
            for mode in MODES
            if (private["mode"] == mode).any()
        }
        nonprivate = table[table["target_epsilon"] == math.inf]
        pairs = zip(nonprivate["mode"], nonprivate[key], strict=True)
        refs = {f"{m} non-private": float(v) for m, v in pairs}
        pop = table[key.replace("test_", "popularity_")].dropna()
        if not pop.empty:
            refs["popularity"] = float(pop.iloc[0])
        plot_curves(
            out / "sweep.png",
            xs,
            curves,
            xlabel="target ε",
            ylabel=key.replace("test_", "test "),
            title="Privacy / utility",
            references=refs,
            logx=True,
        )
    return csv


def _new_to_scenario(summary: dict[str, Any], k: int) -> dict[str, float]:
    """New-to-scenario NDCG@K with nothing known in the scenario, the model's and
    scenario popularity's, when the split has the slice."""
    model = (summary.get("new_to_scenario_curve") or {}).get("0")
    if model is None:
        return {}
    popularity = summary.get("baselines", {}).get("popularity", {})
    theirs = (popularity.get("new_to_scenario_curve") or {}).get("0", {})
    return {
        f"new_to_scenario_ndcg@{k}": model[f"ndcg@{k}"],
        f"new_to_scenario_popularity_ndcg@{k}": theirs.get(f"ndcg@{k}", math.nan),
    }


def _align(df: Any, xs: list[float], key: str) -> list[float]:
    values = dict(zip(df["target_epsilon"], df[key], strict=True))
    return [float(values.get(x, math.nan)) for x in xs]


def _markdown(table: Any) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table.itertuples(index=False):
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
