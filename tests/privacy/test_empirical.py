"""The one-run empirical audit's statistics, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedrec.privacy.empirical import audit_scores, ceiling, epsilon_lower_bound, p_value


def test_p_value_and_bound_against_hand_computed_values():
    # With δ = 0 the p-value is a binomial tail: 10 of 10 right under ε = 0 is 1/1024.
    assert p_value(100, 10, 10, 0.0, 0.0) == pytest.approx(1 / 1024)
    # All 10 right rejects ε while (e^ε / (1 + e^ε))^10 < 0.05: ε* = logit(0.05^(1/10)).
    q = 0.05 ** (1 / 10)
    assert epsilon_lower_bound(100, 10, 10, 0.0) == pytest.approx(math.log(q / (1 - q)), rel=1e-6)
    assert epsilon_lower_bound(100, 10, 5, 0.0) == 0.0  # chance level certifies nothing
    # The δ term only ever weakens the bound.
    assert epsilon_lower_bound(1000, 100, 100, 1e-6) < epsilon_lower_bound(1000, 100, 100, 0.0)


def test_ceiling_grows_with_canaries_and_random_scores_certify_nothing():
    assert ceiling(100, 1e-8) < ceiling(1000, 1e-8) < ceiling(10_000, 1e-9)
    rng = np.random.default_rng(0)
    included = rng.random(2000) < 0.5
    result = audit_scores(
        rng.normal(size=2000), included, delta=1e-8, epsilon_theory=1.0, mechanism="test"
    )
    assert result.epsilon_lower < 0.3 and not result.broken
    perfect = audit_scores(
        included + rng.normal(0, 1e-3, 2000),
        included,
        delta=1e-8,
        epsilon_theory=1.0,
        mechanism="test",
    )
    assert perfect.epsilon_lower > 0.9 * perfect.ceiling and perfect.broken
