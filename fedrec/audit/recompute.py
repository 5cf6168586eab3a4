"""Recompute a client's ε after each of its ledger lines, independently of training.

By RDP (:mod:`fedrec.privacy.accounting`'s own sampled-Gaussian RDP, an upper bound on
any tight accountant) and, for lines accounted by PLD, by Opacus's PRV accountant (by
the PLD accountant, recomputed from the recorded mechanisms, where PRV is unreliable);
and the rule that says whether a reported ε matches its recomputation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from fedrec.privacy.accounting import prv_epsilon, rdp_to_epsilon, sgm_rdp
from fedrec.privacy.calibration import epsilon_of

Lines = list[tuple[int, dict[str, Any]]]  # (line number, parsed line)
#: How far a PLD ε may sit from PRV's (two tight accountants, each with its own error).
TIGHT_TOLERANCE = 0.03


@dataclass(frozen=True)
class Recomputed:
    """One client's ε recomputed after each of its lines."""

    sigma: np.ndarray
    rate: np.ndarray
    steps: np.ndarray
    deltas: np.ndarray
    trained: np.ndarray
    cumulative: np.ndarray  # by RDP: an upper bound on any tight accountant's ε
    alone: np.ndarray
    unsampled: np.ndarray | None  # central DP: without the amplification of sampling
    # Lines accounted by PLD: the tight ε by Opacus's PRV accountant (an implementation
    # independent of the one training used); where PRV is not reliable, by the PLD
    # accountant recomputed from the recorded mechanisms (:func:`_tight`).
    tight_cumulative: np.ndarray | None = None
    tight_alone: np.ndarray | None = None
    tight_unsampled: np.ndarray | None = None


def _tight(history: list[tuple[float, float, int]], delta: float) -> float:
    """PRV's ε of ``history``; where PRV is unreliable (large ε), the PLD accountant's,
    recomputed from the recorded mechanisms (never the reported value: a PLD line can
    sit far below the RDP bound, so that bound alone cannot catch an under-report)."""
    mechanisms = tuple((float(s), float(q), int(n)) for s, q, n in history if n > 0)
    if not mechanisms:
        return 0.0
    eps, used = prv_cached(mechanisms, delta)
    return eps if used == "prv" else epsilon_of(list(mechanisms), delta)


def tight_source(history: list[tuple[float, float, int]], delta: float) -> str:
    """Which accountant :func:`_tight` used for ``history``."""
    mechanisms = tuple((float(s), float(q), int(n)) for s, q, n in history if n > 0)
    used = prv_cached(mechanisms, delta)[1] if mechanisms else "prv"
    return "prv" if used == "prv" else "pld (recomputed; PRV unreliable at this ε)"


def _tight_curves(e: list[dict[str, Any]], mode: str) -> tuple[np.ndarray, ...]:
    cumulative, alone, unsampled = [], [], []
    spent: list[tuple[float, float, int]] = []
    used: list[tuple[float, float, int]] = []
    for x in e:
        this = (float(x["noise_multiplier"]), float(x["sample_rate"]), int(x["steps"]))
        spent.append(this)
        if mode == "central" and x["trained"]:
            used.append((this[0], 1.0, this[2]))
        cumulative.append(_tight(spent, x["delta"]))
        alone.append(_tight([this], x["delta"]))
        unsampled.append(_tight(used, x["delta"]))
    return np.array(cumulative), np.array(alone), np.array(unsampled)


def recompute(lines: Lines, mode: str) -> Recomputed:
    e = [entry for _, entry in lines]
    sigma = np.array([x["noise_multiplier"] for x in e], dtype=np.float64)
    rate = np.array([x["sample_rate"] for x in e], dtype=np.float64)
    steps = np.array([x["steps"] for x in e], dtype=np.float64)
    deltas = np.array([x["delta"] for x in e], dtype=np.float64)
    trained = np.array([x["trained"] for x in e], dtype=bool)
    table = {key: sgm_rdp(*key) for key in set(zip(sigma.tolist(), rate.tolist(), strict=True))}
    per_line = np.stack([table[(s, q)] for s, q in zip(sigma, rate, strict=True)])
    per_line = per_line * steps[:, None]
    unsampled = None
    if mode == "central":
        gauss = {s: sgm_rdp(s, 1.0) for s in set(sigma.tolist())}
        used = np.stack([gauss[s] for s in sigma]) * (steps * trained)[:, None]
        unsampled = rdp_to_epsilon(np.cumsum(used, axis=0), deltas)
    tight = _tight_curves(e, mode) if any(x["accountant"] == "pld" for x in e) else None
    return Recomputed(
        sigma,
        rate,
        steps,
        deltas,
        trained,
        cumulative=rdp_to_epsilon(np.cumsum(per_line, axis=0), deltas),
        alone=rdp_to_epsilon(per_line, deltas),
        unsampled=unsampled,
        tight_cumulative=None if tight is None else tight[0],
        tight_alone=None if tight is None else tight[1],
        tight_unsampled=None if tight is None or mode != "central" else tight[2],
    )


def curve(r: Recomputed, pld: bool) -> list[float]:
    """ε after each line: PRV's for PLD lines where reliable, else RDP's."""
    if not pld or r.tight_cumulative is None:
        return [float(v) for v in r.cumulative]
    return [
        float(rdp if math.isnan(tight) else tight)
        for rdp, tight in zip(r.cumulative, r.tight_cumulative, strict=True)
    ]


def spend_mismatch(
    reported: float,
    rdp: float,
    tight: np.ndarray | None,
    i: int,
    pld: bool,
    tolerance: float,
) -> str | None:
    """Why a reported ε does not match its recomputation, or None. An RDP line must match
    RDP; a PLD line must stay under RDP (an upper bound) and match PRV where it is reliable."""
    if not pld:
        if close(reported, rdp, tolerance):
            return None
        if reported > rdp:
            return (
                f"recomputed {rdp:.6g} (higher than the recorded mechanisms explain: a spend "
                "is missing before it)"
            )
        return f"recomputed {rdp:.6g} (lower than the recorded mechanisms give: under-reported)"
    if reported > rdp * (1 + tolerance) + 1e-9:
        return f"above the RDP bound {rdp:.6g} of the recorded mechanisms"
    value = math.nan if tight is None else float(tight[i])
    if not math.isnan(value) and not close(reported, value, max(tolerance, TIGHT_TOLERANCE)):
        direction = "under-reported" if reported < value else "over-reported"
        return f"the tight recomputation gives {value:.6g} ({direction})"
    return None


def close(reported: float, recomputed: float, tolerance: float) -> bool:
    if math.isinf(reported) or math.isinf(recomputed):
        return reported == recomputed
    return abs(reported - recomputed) <= tolerance * max(1.0, abs(recomputed))


@lru_cache(maxsize=1024)
def prv_cached(mechanisms: tuple[tuple[float, float, int], ...], delta: float) -> tuple[float, str]:
    """Clients with the same history share one (slow) PRV computation."""
    return prv_epsilon(list(mechanisms), delta)
