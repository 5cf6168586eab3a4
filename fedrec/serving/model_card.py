"""The model card: what a served model is, how well it ranks, and what privacy it gives.

The privacy part is the guarantee as the ledger audit states it (ε, δ, unit,
mode), recomputed from the run's ledger when the bundle is exported; a run
trained without DP says "no formal guarantee".
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fedrec.audit.ledger_audit import audit_run
from fedrec.config import Config
from fedrec.errors import FedrecError
from fedrec.privacy import NOT_PRIVATE

#: What a card's privacy statement does not cover (README, "Privacy").
NOT_COVERED = (
    "The metrics are computed on the run's held-out data and are not covered by the "
    "guarantee; the catalog and profile texts are public inputs."
)

#: The metrics a card shows for each slice.
_SHOWN = ("ndcg", "hr", "recall")


def model_card(cfg: Config, summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The card of the model in ``run_dir`` (its config and, where finished, its summary)."""
    k = cfg.eval.k
    keys = [f"{m}@{k}" for m in _SHOWN]

    def pick(metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {key: (metrics or {}).get(key) for key in keys}

    baselines = summary.get("baselines", {})
    return {
        "dataset": cfg.data.dataset,
        "scenarios": summary.get("data", {}).get("scenarios"),
        "items": summary.get("data", {}).get("items"),
        "kind": "federated" if "federation" in summary else "centralized",
        "backbone": cfg.model.backbone or "all-MiniLM-L6-v2 (bundled)",
        "trainable_parameters": summary.get("model", {}).get("trainable_parameters"),
        "metrics": {
            "k": k,
            "test": pick(summary.get("test")),
            "cold_items": pick(summary.get("cold_items")),
            "cold_users": pick(summary.get("cold_users")),
            "popularity_test": pick(baselines.get("popularity", {}).get("test")),
        },
        "privacy": privacy_statement(cfg, run_dir),
        "not_covered": NOT_COVERED,
    }


def privacy_statement(cfg: Config, run_dir: Path) -> dict[str, Any]:
    """The guarantee as the audit recomputes it, or the plain statement that there is none."""
    mode = cfg.privacy.privacy_mode
    if mode == "off":
        return {"mode": "off", "guarantee": "no formal guarantee", "statement": NOT_PRIVATE}
    try:
        report = audit_run(run_dir)
    except FedrecError as err:
        return {"mode": mode, "guarantee": "not audited", "statement": str(err)}
    worst = report.worst
    return {
        "mode": mode,
        "unit": report.unit,
        "epsilon": None if worst is None or math.isinf(worst.epsilon) else worst.epsilon,
        "delta": None if worst is None else worst.delta,
        "guarantee": "audited" if report.ok else f"audit FAILED ({len(report.findings)} findings)",
        "statement": report.guarantee(),
        "checked": report.checks,
    }


def model_card_markdown(card: dict[str, Any]) -> str:
    privacy = card["privacy"]
    metrics = card["metrics"]
    k = metrics["k"]
    lines = [
        "# Model card",
        "",
        f"- Dataset: {card['dataset']} ({card.get('items')} items; scenarios: "
        f"{', '.join(card.get('scenarios') or [])})",
        f"- Training: {card['kind']}; backbone {card['backbone']}; "
        f"{card.get('trainable_parameters')} trainable parameters (LoRA and heads)",
        "",
        "## Privacy",
        "",
        f"- Mode: {privacy['mode']}; {privacy['guarantee']}",
    ]
    if privacy.get("epsilon") is not None:
        lines.append(
            f"- (ε, δ) = ({privacy['epsilon']:.3g}, {privacy['delta']:.1e}) per {privacy['unit']}"
        )
    lines += ["", privacy["statement"], ""]
    lines += [f"- checked: {c}" for c in privacy.get("checked", [])]
    lines += ["", f"## Full-ranking metrics (@{k})", "", "| slice | NDCG | HR | recall |"]
    lines.append("|---|---:|---:|---:|")
    for name in ("test", "cold_items", "cold_users", "popularity_test"):
        row = metrics[name]
        cells = [_fmt(row.get(f"{m}@{k}")) for m in _SHOWN]
        lines.append(f"| {name.replace('_', ' ')} | {' | '.join(cells)} |")
    lines += ["", card["not_covered"]]
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}"
