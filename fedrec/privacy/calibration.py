"""One calibration of the DP mechanisms' parameters, for local and central DP alike.

- :func:`resolve_delta`: δ of a guarantee over ``population`` privacy units
  (the whole population: users or records of every client under local DP,
  clients under central DP): the configured one, or ``min(1e-5, N^-1.1)``; it
  must stay below ``1 / N``.
- :func:`calibrate_noise`: the noise multiplier σ that reaches a target ε after
  ``steps`` steps of the Poisson-sampled Gaussian mechanism at rate ``q``.
- :func:`calibrate_remaining`: σ for the rest of a run that has spent some ε
  already (a resumed run that goes on longer), so that the whole run stays at
  its target.
- :func:`epsilon_of`: ε of composed ``(σ, q, steps)`` mechanisms, by the
  privacy loss distribution (Google's ``dp-accounting``, the accountant Flower's
  DP extra uses); :func:`rdp_epsilon_of` by Opacus's RDP accountant.

Training calibrates and accounts with the PLD accountant, which is tighter than
RDP (measured: 5-8% less noise for the same ε, docs/BENCHMARKS.md); the audit
recomputes with independent implementations (:mod:`fedrec.privacy.accounting`):
RDP from its defining integral, an upper bound every PLD ε must stay under, and
Opacus's PRV accountant for the tight value.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

from opacus.accountants import RDPAccountant

from fedrec.errors import ConfigError

ACCOUNTANT = "pld"
#: PLD discretization of the privacy loss (smaller is tighter and slower; 3e-3 moves ε by
#: under 0.1% against 1e-3 on fedrec's mechanisms).
PLD_INTERVAL = 3e-3
#: RDP orders beyond Opacus's default 63: small ε (a tenth of a budget, or a strict
#: target) is only reachable at high orders, log(1/δ) / (α - 1) being the floor of ε.
HIGH_ORDERS = (64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024)
ALPHAS = [*RDPAccountant.DEFAULT_ALPHAS, *HIGH_ORDERS]
#: The largest δ fedrec defaults to, whatever the population.
MAX_DEFAULT_DELTA = 1e-5


def default_delta(population: int) -> float:
    """``min(1e-5, N^-1.1)``: well below ``1 / N`` for any population."""
    return min(MAX_DEFAULT_DELTA, float(population) ** -1.1)


def resolve_delta(delta: float, population: int, units: str) -> float:
    """``delta`` (0 = :func:`default_delta`) for ``population`` units named ``units``;
    refuse δ ≥ 1/N."""
    if population < 1:
        raise ConfigError(f"DP needs at least one of its {units} in the population.")
    resolved = delta or default_delta(population)
    if resolved >= 1.0 / population:
        raise ConfigError(
            f"delta={resolved:g} is not below 1/N = {1 / population:g} for the N={population} "
            f"{units} of the population: lower delta (or leave it 0 for min(1e-5, N^-1.1))."
        )
    return resolved


def calibrate_noise(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """σ for ``target_epsilon`` after ``steps`` steps at ``sample_rate``."""
    return _bisect_sigma(target_epsilon, delta, [], sample_rate, steps)


def _bisect_sigma(
    target: float, delta: float, spent: list[tuple[float, float, int]], rate: float, steps: int
) -> float:
    """The smallest σ (to 0.1%) whose steps, after ``spent``, stay within ``target``:
    regula falsi (Illinois) on log ε against log σ, which is nearly linear."""

    def gap(log_sigma: float) -> float:
        eps = epsilon_of([*spent, (math.exp(log_sigma), rate, steps)], delta)
        return math.log(max(eps, 1e-300)) - math.log(target)

    low, high = math.log(0.1), math.log(100.0)
    f_low, f_high = gap(low), gap(high)
    while f_high > 0 and high < math.log(1e5):  # widen the bracket only when needed
        low, f_low, high = high, f_high, high + math.log(10.0)
        f_high = gap(high)
    if f_high > 0:
        raise ConfigError(
            f"target-epsilon={target:g} cannot be reached at δ={delta:g}: raise it (the "
            "noise is capped at σ = 1e5)."
        )
    if f_low <= 0:
        return math.exp(low)
    side = 0
    while high - low > 1e-3:
        mid = (low * f_high - high * f_low) / (f_high - f_low)
        f_mid = gap(mid)
        if f_mid > 0:
            low, f_low = mid, f_mid
            if side == -1:
                f_high /= 2
            side = -1
        else:
            high, f_high = mid, f_mid
            if side == 1:
                f_low /= 2
            side = 1
        if abs(f_mid) < 1e-4:  # ε within 0.01% of the target
            return math.exp(mid) if f_mid <= 0 else math.exp(mid) * 1.0001
    return math.exp(high)


def calibrate_remaining(
    target_epsilon: float,
    delta: float,
    spent: list[tuple[float, float, int]],
    sample_rate: float,
    steps: int,
) -> float:
    """σ for ``steps`` more steps at ``sample_rate`` after ``spent``, so that the whole
    composition reaches ``target_epsilon`` (refused when the target is spent already)."""
    already = epsilon_of(spent, delta)
    if not spent or steps == 0:
        return calibrate_noise(target_epsilon, delta, sample_rate, max(steps, 1))
    if already >= target_epsilon * 0.999:
        raise ConfigError(
            f"ε = {already:.3g} of target-epsilon={target_epsilon:g} is spent before these "
            "steps (earlier rounds, or the popularity histogram): they cannot stay within the "
            "target. Raise target-epsilon knowingly, raise dp-popularity-noise, or run fewer "
            "rounds."
        )
    return _bisect_sigma(target_epsilon, delta, spent, sample_rate, steps)


def epsilon_of(history: list[tuple[float, float, int]], delta: float) -> float:
    """ε of composed ``(σ, q, steps)`` mechanisms by the PLD accountant (0 for none)."""
    return _pld_cached(tuple((float(s), float(q), int(n)) for s, q, n in history if n > 0), delta)


@lru_cache(maxsize=4096)
def _pld_cached(history: tuple[tuple[float, float, int], ...], delta: float) -> float:
    if not history:
        return 0.0
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=PLD_INTERVAL)
    for sigma, q, steps in history:
        event: dp_accounting.DpEvent = dp_accounting.GaussianDpEvent(sigma)
        if q < 1.0:
            event = dp_accounting.PoissonSampledDpEvent(q, event)
        accountant.compose(dp_accounting.SelfComposedDpEvent(event, steps))
    return float(accountant.get_epsilon(delta))


def rdp_epsilon_of(history: list[tuple[float, float, int]], delta: float) -> float:
    """ε of composed ``(σ, q, steps)`` mechanisms by Opacus's RDP accountant (0 for none)."""
    history = [h for h in history if h[2] > 0]
    if not history:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = history
    with warnings.catch_warnings():  # "optimal order at the edge": the bound still holds
        warnings.simplefilter("ignore", UserWarning)
        return float(accountant.get_epsilon(delta, alphas=ALPHAS))
