"""One calibration of the DP mechanisms' parameters, for local and central DP alike.

- :func:`resolve_delta`: δ of a guarantee over ``population`` privacy units
  (records under local DP, clients under central DP): the configured one, or
  ``1 / (10 N)``; it must stay below ``1 / N``.
- :func:`calibrate_noise`: the noise multiplier σ that reaches a target ε after
  ``steps`` steps of the Poisson-sampled Gaussian mechanism at rate ``q``.
- :func:`rdp_epsilon_of`: ε of composed ``(σ, q, steps)`` mechanisms.

Training accounts with Opacus's RDP accountant; the audit recomputes with an
independent implementation (:mod:`fedrec.privacy.accounting`).
"""

from __future__ import annotations

from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from fedrec.errors import ConfigError

ACCOUNTANT = "rdp"


def resolve_delta(delta: float, population: int, units: str) -> float:
    """``delta`` (0 = ``1 / (10 N)``) for ``population`` units named ``units``; refuse δ ≥ 1/N."""
    resolved = delta or 1.0 / (10 * population)
    if resolved >= 1.0 / population:
        raise ConfigError(
            f"delta={resolved:g} is not below 1/N = {1 / population:g} for N={population} "
            f"{units}: lower delta (or leave it 0 for 1/(10 N))."
        )
    return resolved


def calibrate_noise(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """σ for ``target_epsilon`` after ``steps`` steps at ``sample_rate`` (by RDP)."""
    return float(
        get_noise_multiplier(
            target_epsilon=target_epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=ACCOUNTANT,
        )
    )


def rdp_epsilon_of(history: list[tuple[float, float, int]], delta: float) -> float:
    """ε of composed ``(σ, q, steps)`` mechanisms by Opacus's RDP accountant (0 for none)."""
    history = [h for h in history if h[2] > 0]
    if not history:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = history
    return float(accountant.get_epsilon(delta))
