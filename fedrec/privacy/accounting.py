"""Privacy accounting for the audit, written independently of Opacus.

Training accounts with Opacus's RDP accountant (closed-form series for the
sampled Gaussian mechanism). The audit recomputes ε from the recorded mechanism
parameters with a different implementation, so that a bug in one is not
silently repeated by the other:

- :func:`sgm_rdp` evaluates the Rényi divergence of the Poisson-subsampled
  Gaussian mechanism (Mironov, Talwar and Zhang, 2019) by numerical integration
  of its defining integral on a grid, rather than by the series Opacus uses;
- :func:`rdp_to_epsilon` converts RDP to (ε, δ) with the conversion of Balle et
  al. (2020, Thm. 21), minimised over the orders;
- :func:`prv_epsilon` is Opacus's PRV accountant (Gopi, Lee and Wutschitz,
  2021), tighter than RDP but unreliable at large ε, where it falls back to RDP.

All functions take the noise multiplier σ (noise std over the clipping norm),
the sampling rate q and a number of steps, as written in the privacy ledger.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

#: RDP orders: fine below 11, integers up to 63 (the customary grid), then sparse orders up
#: to 1024 (where small ε lives; training uses the same high orders).
ORDERS = np.array(
    [1.0 + x / 10.0 for x in range(1, 100)]
    + list(range(11, 64))
    + [64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024],
    dtype=np.float64,
)
#: Above this ε, the PRV accountant's discretisation is unreliable: use RDP.
PRV_MAX_EPSILON = 10.0
_GRID = 4001  # integration points per unit of σ-scaled range (see sgm_rdp)


@lru_cache(maxsize=4096)
def _sgm_rdp_cached(sigma: float, q: float) -> tuple[float, ...]:
    return tuple(_sgm_rdp(sigma, q, ORDERS))


def sgm_rdp(sigma: float, q: float, orders: Sequence[float] | None = None) -> np.ndarray:
    """RDP ε(α) of one step of the sampled Gaussian mechanism, at each order α.

    ``A_α = E_{z~N(0,σ²)} [(1 - q + q·exp((2z - 1) / (2σ²)))^α]`` and
    ``ε(α) = log(A_α) / (α - 1)``, with sensitivity 1 (σ is relative to the
    clipping norm). ``q = 1`` is the plain Gaussian, ``α / (2σ²)``.
    """
    if orders is None:
        return np.array(_sgm_rdp_cached(float(sigma), float(q)))
    return _sgm_rdp(float(sigma), float(q), np.asarray(orders, dtype=np.float64))


def _sgm_rdp(sigma: float, q: float, orders: np.ndarray) -> np.ndarray:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"sample rate {q} is not in [0, 1]")
    if q == 0.0:
        return np.zeros_like(orders)
    if sigma <= 0.0:
        return np.full_like(orders, np.inf)
    if q == 1.0:
        return orders / (2.0 * sigma**2)
    out = np.empty_like(orders)
    log_1q, log_q = math.log1p(-q), math.log(q)
    for i, alpha in enumerate(orders):
        # The integrand peaks between z = 0 (the (1-q) term) and z = α (the q term).
        lo, hi = -14.0 * sigma - 1.0, alpha + 14.0 * sigma + 1.0
        n = int(max(2001, _GRID * (hi - lo) / sigma / 20.0)) | 1
        z = np.linspace(lo, hi, n)
        mix = np.logaddexp(log_1q, log_q + (2.0 * z - 1.0) / (2.0 * sigma**2))
        log_f = alpha * mix - z**2 / (2.0 * sigma**2) - math.log(sigma * math.sqrt(2 * math.pi))
        top = log_f.max()
        # Simpson's rule on exp(log_f - top), then back to the log domain.
        w = np.ones(n)
        w[1:-1:2], w[2:-1:2] = 4.0, 2.0
        integral = (z[1] - z[0]) / 3.0 * float(np.dot(w, np.exp(log_f - top)))
        out[i] = (top + math.log(integral)) / (alpha - 1.0)
    return np.maximum(out, 0.0)


def rdp_to_epsilon(rdp: np.ndarray, delta: float | np.ndarray) -> np.ndarray:
    """(ε, δ) from RDP curves (``rdp[..., orders]``), minimised over the orders.

    Balle et al. (2020): ``ε = rdp(α) + log((α-1)/α) - (log δ + log α) / (α - 1)``.
    """
    rdp = np.asarray(rdp, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)[..., None]
    a = ORDERS
    with np.errstate(invalid="ignore"):
        eps = rdp - (np.log(delta) + np.log(a)) / (a - 1.0) + np.log((a - 1.0) / a)
    eps = np.where(np.isnan(eps), np.inf, eps)
    # Nothing released yet (all-zero RDP) is ε = 0, not the conversion's slack.
    return np.where((rdp == 0).all(axis=-1), 0.0, np.maximum(eps.min(axis=-1), 0.0))


def rdp_epsilon(mechanisms: Iterable[tuple[float, float, int]], delta: float) -> float:
    """ε after composing ``(σ, q, steps)`` mechanisms, by RDP."""
    total = np.zeros_like(ORDERS)
    for sigma, q, steps in mechanisms:
        if steps:
            total = total + int(steps) * sgm_rdp(sigma, q)
    return float(rdp_to_epsilon(total, delta))


def prv_epsilon(mechanisms: Sequence[tuple[float, float, int]], delta: float) -> tuple[float, str]:
    """ε by the PRV accountant, and the accountant that gave it.

    Falls back to RDP (and says so in the second value) where the RDP ε is above
    :data:`PRV_MAX_EPSILON` or the PRV computation fails: PRV's error bounds are
    not reliable there.
    """
    mechanisms = [(float(s), float(q), int(n)) for s, q, n in mechanisms if int(n) > 0]
    rdp = rdp_epsilon(mechanisms, delta)
    if not mechanisms:
        return 0.0, "prv"
    if rdp > PRV_MAX_EPSILON or any(s <= 0 for s, _, _ in mechanisms):
        return rdp, f"rdp (PRV unreliable above ε={PRV_MAX_EPSILON:g})"
    from opacus.accountants import PRVAccountant

    accountant = PRVAccountant()
    accountant.history = list(mechanisms)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eps = float(accountant.get_epsilon(delta=delta, eps_error=0.01))
    except (ValueError, RuntimeError, OverflowError) as err:
        return rdp, f"rdp (PRV failed: {err})"
    if not math.isfinite(eps) or eps > rdp * 1.05:
        return rdp, "rdp (PRV gave a looser bound)"
    return eps, "prv"


def steps_by_mechanism(
    history: Sequence[tuple[float, float, int]],
) -> dict[tuple[float, float], int]:
    """The steps a history spent at each (σ, q): what two accounts of one client's
    spends (its own accountant, the server's ledger) must agree on."""
    out: dict[tuple[float, float], int] = {}
    for sigma, q, steps in history:
        key = (float(sigma), float(q))
        out[key] = out.get(key, 0) + int(steps)
    return out
