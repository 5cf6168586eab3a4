"""The audit's independent accountant against Opacus's closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from opacus.accountants.analysis.rdp import compute_rdp

from fedrec.privacy.accounting import ORDERS, prv_epsilon, rdp_epsilon, sgm_rdp

DELTA = 1e-5


@pytest.mark.parametrize("sigma,q", [(1.0, 0.01), (0.7, 0.2), (3.0, 0.5), (2.0, 0.001), (0.9, 1.0)])
def test_integrated_rdp_matches_the_closed_form_series(sigma, q):
    reference = compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=list(ORDERS))
    np.testing.assert_allclose(sgm_rdp(sigma, q), reference, rtol=1e-6, atol=1e-10)


def test_prv_is_tighter_than_rdp_and_falls_back_at_large_epsilon():
    small = [(1.0, 0.02, 200)]
    eps, used = prv_epsilon(small, DELTA)
    assert used == "prv" and 0 < eps < rdp_epsilon(small, DELTA)
    large = [(0.5, 0.5, 100)]
    eps, used = prv_epsilon(large, DELTA)
    assert used.startswith("rdp") and eps == pytest.approx(rdp_epsilon(large, DELTA))
