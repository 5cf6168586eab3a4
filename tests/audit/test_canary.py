"""The canary audit of real mechanisms: DP-SGD and DP-FedAvg re-run with canaries."""

from __future__ import annotations

import math

import pytest

from fedrec.audit import canary as canary_audit
from fedrec.audit.canary import central_canary_audit, dp_sgd_canary_audit
from fedrec.config import resolve

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
    from fedrec.privacy import dp_optimizer

    def add_no_noise(self):  # the bug: σ is accounted for, but no noise is drawn
        for p in self.params:
            p.grad = p.summed_grad.view_as(p)

    monkeypatch.setattr(dp_optimizer.PrivateDPOptimizer, "add_noise", add_no_noise)
    result = canary_audit.dp_sgd_canary_audit(
        resolve(None, [*tiny, "privacy-mode=local", "target-epsilon=1"]),
        500,
        federated=False,
        progress=False,
    )
    assert result.broken, result
    assert result.epsilon_lower > result.epsilon_theory


def test_noise_disabled_at_epsilon_eight_is_never_reported_as_passed(tiny, monkeypatch):
    """At ε = 8 a thousand canaries certify at most about 4.6: a run with no noise at all
    must come out broken or inconclusive, never consistent."""
    from fedrec.privacy import dp_optimizer

    def add_no_noise(self):
        for p in self.params:
            p.grad = p.summed_grad.view_as(p)

    monkeypatch.setattr(dp_optimizer.PrivateDPOptimizer, "add_noise", add_no_noise)
    result = dp_sgd_canary_audit(
        resolve(None, [*tiny, "privacy-mode=local", "target-epsilon=8"]),
        1000,
        federated=False,
        progress=False,
    )
    assert result.verdict in ("broken", "inconclusive"), result
    assert result.verdict != "consistent"
