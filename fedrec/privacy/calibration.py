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
- :func:`rdp_epsilon_of`: ε of composed ``(σ, q, steps)`` mechanisms.

Training accounts with Opacus's RDP accountant; the audit recomputes with an
independent implementation (:mod:`fedrec.privacy.accounting`).
"""

from __future__ import annotations

from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from fedrec.errors import ConfigError

ACCOUNTANT = "rdp"
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


def calibrate_remaining(
    target_epsilon: float,
    delta: float,
    spent: list[tuple[float, float, int]],
    sample_rate: float,
    steps: int,
) -> float:
    """σ for ``steps`` more steps at ``sample_rate`` after ``spent``, so that the whole
    composition reaches ``target_epsilon`` (refused when the target is spent already)."""
    already = rdp_epsilon_of(spent, delta)
    if not spent or steps == 0:
        return calibrate_noise(target_epsilon, delta, sample_rate, max(steps, 1))
    if already >= target_epsilon * 0.999:
        raise ConfigError(
            f"the run has spent ε = {already:.3g} of its target-epsilon={target_epsilon:g} "
            "already: it cannot go on within its target. Raise target-epsilon knowingly, or "
            "keep the rounds it has."
        )
    low, high = 1e-2, 1e4  # σ bracket: ε(high) is far below any target, ε(low) far above
    for _ in range(80):
        mid = (low * high) ** 0.5
        total = rdp_epsilon_of([*spent, (mid, sample_rate, steps)], delta)
        low, high = (mid, high) if total > target_epsilon else (low, mid)
    return high


def rdp_epsilon_of(history: list[tuple[float, float, int]], delta: float) -> float:
    """ε of composed ``(σ, q, steps)`` mechanisms by Opacus's RDP accountant (0 for none)."""
    history = [h for h in history if h[2] > 0]
    if not history:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = history
    return float(accountant.get_epsilon(delta))
