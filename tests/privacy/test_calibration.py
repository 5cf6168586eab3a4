"""One calibration of δ and σ for local and central DP."""

from __future__ import annotations

import pytest

from fedrec.errors import ConfigError
from fedrec.privacy.calibration import (
    calibrate_noise,
    calibrate_remaining,
    epsilon_of,
    rdp_epsilon_of,
    resolve_delta,
)


def test_delta_defaults_to_the_smaller_of_1e_5_and_n_to_the_minus_1_1():
    assert resolve_delta(0.0, 500, "users") == pytest.approx(1e-5)  # 500^-1.1 = 1.1e-3
    assert resolve_delta(0.0, 1_000_000, "users") == pytest.approx(1e6**-1.1)
    assert resolve_delta(0.0, 1, "users") == 1e-5  # a one-user device: 1e-5, never 0.1
    assert resolve_delta(1e-6, 500, "users") == 1e-6
    with pytest.raises(ConfigError, match=r"delta=0\.01 is not below 1/N = 0\.002.*500 users"):
        resolve_delta(0.01, 500, "users")


def test_a_resume_that_goes_on_longer_stays_at_its_target():
    spent = [(1.0, 0.01, 500)]
    sigma = calibrate_remaining(8.0, 1e-5, spent, 0.01, 700)
    assert epsilon_of([*spent, (sigma, 0.01, 700)], 1e-5) == pytest.approx(8.0, rel=0.01)
    with pytest.raises(ConfigError, match=r"spent before these steps"):
        calibrate_remaining(epsilon_of(spent, 1e-5), 1e-5, spent, 0.01, 10)


def test_calibrated_noise_reaches_the_target_epsilon():
    sigma = calibrate_noise(4.0, 1e-5, 0.01, 1000)
    assert epsilon_of([(sigma, 0.01, 1000)], 1e-5) == pytest.approx(4.0, rel=0.01)
    # The PLD accountant is tighter than RDP: the same σ certifies less ε, so less noise.
    assert rdp_epsilon_of([(sigma, 0.01, 1000)], 1e-5) > 4.0 * 1.03
    assert calibrate_noise(1.0, 1e-5, 0.01, 1000) > sigma  # less ε needs more noise


def test_epsilon_composes_and_is_zero_for_nothing():
    for accountant in (epsilon_of, rdp_epsilon_of):
        assert accountant([], 1e-5) == 0.0
        assert accountant([(1.0, 0.1, 0)], 1e-5) == 0.0
        assert accountant([(1.0, 0.1, 50), (1.0, 0.1, 50)], 1e-5) == pytest.approx(
            accountant([(1.0, 0.1, 100)], 1e-5), rel=1e-3
        )


def test_rdp_epsilon_composes_and_is_zero_for_nothing():
    assert rdp_epsilon_of([], 1e-5) == 0.0
    assert rdp_epsilon_of([(1.0, 0.1, 0)], 1e-5) == 0.0
    one = rdp_epsilon_of([(1.0, 0.1, 50)], 1e-5)
    assert rdp_epsilon_of([(1.0, 0.1, 50), (1.0, 0.1, 50)], 1e-5) == pytest.approx(
        rdp_epsilon_of([(1.0, 0.1, 100)], 1e-5)
    )
    assert rdp_epsilon_of([(1.0, 0.1, 100)], 1e-5) > one
