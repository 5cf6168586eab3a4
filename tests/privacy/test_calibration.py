"""One calibration of δ and σ for local and central DP."""

from __future__ import annotations

import pytest

from fedrec.errors import ConfigError
from fedrec.privacy.calibration import calibrate_noise, rdp_epsilon_of, resolve_delta


def test_delta_defaults_to_a_tenth_of_one_over_n_and_must_stay_below_it():
    assert resolve_delta(0.0, 500, "records") == pytest.approx(1 / 5000)
    assert resolve_delta(1e-6, 500, "records") == 1e-6
    with pytest.raises(ConfigError, match=r"delta=0\.01 is not below 1/N = 0\.002.*500 records"):
        resolve_delta(0.01, 500, "records")


def test_calibrated_noise_reaches_the_target_epsilon():
    sigma = calibrate_noise(4.0, 1e-5, 0.01, 1000)
    assert rdp_epsilon_of([(sigma, 0.01, 1000)], 1e-5) == pytest.approx(4.0, rel=0.01)
    assert calibrate_noise(1.0, 1e-5, 0.01, 1000) > sigma  # less ε needs more noise


def test_epsilon_composes_and_is_zero_for_nothing():
    assert rdp_epsilon_of([], 1e-5) == 0.0
    assert rdp_epsilon_of([(1.0, 0.1, 0)], 1e-5) == 0.0
    one = rdp_epsilon_of([(1.0, 0.1, 50)], 1e-5)
    assert rdp_epsilon_of([(1.0, 0.1, 50), (1.0, 0.1, 50)], 1e-5) == pytest.approx(
        rdp_epsilon_of([(1.0, 0.1, 100)], 1e-5)
    )
    assert rdp_epsilon_of([(1.0, 0.1, 100)], 1e-5) > one
