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
    out = {
        "mode": mode,
        "unit": report.unit,
        "epsilon": None if worst is None or math.isinf(worst.epsilon) else worst.epsilon,
        "delta": None if worst is None else worst.delta,
        "guarantee": "audited" if report.ok else f"audit FAILED ({len(report.findings)} findings)",
        "statement": report.guarantee(),
        "checked": report.checks,
    }
    if report.epsilon_across_silos is not None and out["epsilon"] is not None:
        # One user's data can sit in every silo: the per-user figure composes the silos.
        out |= {
            "epsilon_per_silo": out["epsilon"],
            "epsilon": report.epsilon_across_silos,
            "delta": report.delta_across_silos,
        }
    if mode == "central":  # for anyone who also knows which clients took part
        out["epsilon_unsampled"] = report.epsilon_unsampled
    return out


def routed_card(card: dict[str, Any], cold: dict[str, Any], max_clicks: int) -> dict[str, Any]:
    """The card of a bundle whose requests knowing at most ``max_clicks`` items go to a
    second model (``cold``'s card): its metrics beside the main model's, and the two
    guarantees composed, since both models are released from the same data."""
    return {
        **card,
        "privacy": composed_privacy(card["privacy"], cold["privacy"], max_clicks),
        "cold_route": {
            "max_clicks": max_clicks,
            "kind": cold["kind"],
            "metrics": cold["metrics"],
            "privacy": cold["privacy"],
        },
    }


def composed_privacy(main: dict[str, Any], cold: dict[str, Any], max_clicks: int) -> dict[str, Any]:
    """Both models' guarantees as one: (ε₁ + ε₂, δ₁ + δ₂) per unit by basic composition
    where both are audited for the same unit; otherwise what can be said, and why no
    more."""
    modes = (main["mode"], cold["mode"])
    out: dict[str, Any] = {
        "mode": modes[0] if modes[0] == modes[1] else " + ".join(modes),
        "models": {"main": main, "cold_start": cold},
    }
    served = (
        f"Two models are served: the cold-start model answers requests knowing at most "
        f"{max_clicks} items, the main model every other."
    )
    if "off" in modes:
        which = "main" if modes[0] == "off" else "cold-start"
        return out | {
            "guarantee": "no formal guarantee",
            "statement": f"{served} The {which} model was trained without differential "
            f"privacy, so the pair has no formal guarantee. {NOT_PRIVATE}",
        }
    eps = (main.get("epsilon"), cold.get("epsilon"))
    reason = _not_composable(main, cold)
    if reason:
        return out | {
            "epsilon": None,
            "guarantee": "not composed",
            "statement": f"{served} No guarantee is stated for the pair: {reason}. Each "
            f"model's own, as its audit found it: main ({main['guarantee']}): "
            f"{main['statement']} Cold-start ({cold['guarantee']}): {cold['statement']}",
        }
    epsilon, delta = eps[0] + eps[1], main["delta"] + cold["delta"]
    return out | {
        "unit": main["unit"],
        "epsilon": epsilon,
        "delta": delta,
        "guarantee": "audited",
        "statement": f"{served} Both are trained on the same data, so their guarantees, "
        f"({eps[0]:.3g}, {main['delta']:.1e}) and ({eps[1]:.3g}, {cold['delta']:.1e}), compose "
        f"to ({epsilon:.3g}, {delta:.1e})-differential privacy with respect to any one "
        f"{main['unit']}, against anyone who sees both models (basic composition, an upper "
        f"bound; each model's own adversary below). Main: "
        f"{main['statement']} Cold-start: {cold['statement']}",
        "checked": [f"main: {c}" for c in main.get("checked", [])]
        + [f"cold-start: {c}" for c in cold.get("checked", [])],
    }


def _not_composable(main: dict[str, Any], cold: dict[str, Any]) -> str | None:
    """Why the two guarantees cannot be added, or None where they can."""
    named = (("main", main), ("cold-start", cold))
    if main["mode"] != cold["mode"]:
        return (
            f"they hold against different adversaries ({main['mode']} and {cold['mode']} "
            "differential privacy)"
        )
    if main["mode"] == "central":
        return (
            "under central DP each run protects all of one of its clients' data, and the two "
            "runs' clients need not hold the same users"
        )
    for name, p in named:
        if p["guarantee"] != "audited":
            return f"the {name} model's guarantee is {p['guarantee']!r}"
        if p.get("epsilon") is None:
            return f"the {name} model states no finite ε"
    if main.get("unit") != cold.get("unit"):
        return f"they protect different units ({main.get('unit')} and {cold.get('unit')})"
    return None


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
    lines += ["", f"## Full-ranking metrics (@{k})", ""]
    lines += _metric_table(metrics, ("test", "cold_items", "cold_users", "popularity_test"), k)
    route = card.get("cold_route")
    if route:
        lines += ["", "## Cold-start model", ""]
        lines.append(
            f"Requests knowing at most {route['max_clicks']} items are served by a second "
            f"model ({route['kind']}); its privacy: {route['privacy']['guarantee']}."
        )
        shown = ("test", "cold_users", "popularity_test")
        lines += ["", *_metric_table(route["metrics"], shown, k)]
    lines += ["", card["not_covered"]]
    return "\n".join(lines) + "\n"


def _metric_table(metrics: dict[str, Any], names: tuple[str, ...], k: int) -> list[str]:
    """A markdown table of ``metrics``' slices ``names``: NDCG, HR and recall at ``k``."""
    lines = ["| slice | NDCG | HR | recall |", "|---|---:|---:|---:|"]
    for name in names:
        cells = [_fmt(metrics[name].get(f"{m}@{k}")) for m in _SHOWN]
        lines.append(f"| {name.replace('_', ' ')} | {' | '.join(cells)} |")
    return lines


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}"
