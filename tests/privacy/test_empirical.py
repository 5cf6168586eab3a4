"""The one-run empirical audit: its statistics, and what it says about real mechanisms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedrec.config import resolve
from fedrec.privacy import canary_audit
from fedrec.privacy.canary_audit import central_canary_audit, dp_sgd_canary_audit
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


CENTRAL = [
    "privacy-mode=central",
    "num-clients=40",
    "clients-per-round=10",
    "num-server-rounds=20",
    "synthetic-users=60",
]


def test_central_audit_near_the_ceiling_without_noise_and_low_at_epsilon_one():
    loud = central_canary_audit(
        resolve(None, [*CENTRAL, "noise-multiplier=0.02"]), 2000, progress=False
    )
    assert loud.epsilon_lower > 0.8 * loud.ceiling and not loud.broken
    quiet = central_canary_audit(
        resolve(None, [*CENTRAL, "target-epsilon=1"]), 2000, progress=False
    )
    assert quiet.epsilon_lower < 1.0 and not quiet.broken


def test_central_audit_catches_noise_that_is_smaller_than_accounted(monkeypatch):
    from flwr.supercore import differential_privacy

    real = differential_privacy.compute_stdv
    monkeypatch.setattr(differential_privacy, "compute_stdv", lambda s, c, n: real(s, c, n) / 100)
    broken = central_canary_audit(
        resolve(None, [*CENTRAL, "target-epsilon=1"]), 2000, progress=False
    )
    assert broken.broken and broken.epsilon_lower > broken.epsilon_theory


@pytest.fixture(scope="module")
def tiny(tiny_overrides):
    return [*tiny_overrides, "epochs=3", "batch-size=32"]


def test_dp_sgd_audit_of_a_non_private_run_is_large(tiny):
    result = dp_sgd_canary_audit(
        resolve(None, [*tiny, "privacy-mode=off"]), 500, federated=False, progress=False
    )
    assert result.epsilon_theory == math.inf
    assert result.epsilon_lower > 0.6 * result.ceiling


def test_dp_sgd_audit_at_epsilon_one_is_small_and_consistent(tiny):
    result = dp_sgd_canary_audit(
        resolve(None, [*tiny, "privacy-mode=local", "target-epsilon=1"]),
        500,
        federated=False,
        progress=False,
    )
    assert result.epsilon_lower < 1.0 and not result.broken


def test_dp_sgd_audit_catches_noise_that_is_never_added(tiny, monkeypatch):
    from opacus.optimizers.optimizer import DPOptimizer

    def add_no_noise(self):  # the bug: σ is accounted for, but no noise is drawn
        for p in self.params:
            p.grad = p.summed_grad.view_as(p)

    monkeypatch.setattr(DPOptimizer, "add_noise", add_no_noise)
    result = canary_audit.dp_sgd_canary_audit(
        resolve(None, [*tiny, "privacy-mode=local", "target-epsilon=1"]),
        500,
        federated=False,
        progress=False,
    )
    assert result.broken, result
    assert result.epsilon_lower > result.epsilon_theory
