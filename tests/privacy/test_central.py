"""Central DP's settings and accounting (DP-FedAvg), without Flower."""

from __future__ import annotations

import pytest

from fedrec.config import build_config
from fedrec.errors import ConfigError
from fedrec.privacy.central import CentralDP


def test_central_accounting_with_and_without_amplification():
    cfg = build_config(
        {
            "privacy-mode": "central",
            "noise-multiplier": 1.0,
            "clients-per-round": 10,
            "num-clients": 100,
        }
    )
    dp = CentralDP.from_config(cfg, 100)
    assert dp.delta == pytest.approx(1e-5)
    assert 0 < dp.epsilon(10) < dp.epsilon(20)
    unsampled = dp.ledger_entry(10, 0, "client", [dp.release()] * 10, [1.0] * 10, True)
    assert dp.epsilon(10) < unsampled.epsilon_unsampled  # sampling amplifies
    assert unsampled.epsilon == pytest.approx(dp.epsilon(10))
    targeted = CentralDP.from_config(
        build_config(
            {
                "privacy-mode": "central",
                "target-epsilon": 2.0,
                "clients-per-round": 10,
                "num-clients": 100,
                "num-server-rounds": 30,
            }
        ),
        100,
    )
    assert targeted.epsilon(30) == pytest.approx(2.0, rel=0.02)


def test_a_resume_that_changes_sigma_composes_every_release_at_its_own_sigma():
    """5 releases at the 5-round σ, then a resume to 12 rounds: the new σ is for the 7
    rounds left, so the whole run stays at its target (not 4 reported over 4.83 true)."""
    values = {
        "privacy-mode": "central",
        "target-epsilon": 4.0,
        "clients-per-round": 20,
        "num-clients": 100,
    }
    first = CentralDP.from_config(build_config(values | {"num-server-rounds": 5}), 100)
    spent = [first.release()] * 5
    resumed = CentralDP.from_config(build_config(values | {"num-server-rounds": 12}), 100, spent)
    naive = CentralDP.from_config(build_config(values | {"num-server-rounds": 12}), 100)
    whole = [*spent, *[resumed.release()] * 7]
    assert resumed.epsilon_of(whole) == pytest.approx(4.0, rel=0.02)
    # Applying the 12-round σ to every release, as before, understates the spend.
    assert first.epsilon_of([*spent, *[naive.release()] * 7]) > 4.0 * 1.02


@pytest.mark.parametrize(
    "values,match",
    [
        ({"strategy": "fedadam"}, "strategy='fedadam' with privacy-mode='central'"),
        ({"send-float16": True}, "send-float16"),
        ({"secure-mode": True}, "secure-mode"),
        ({"central-clipping": "both"}, "central-clipping"),
        ({"server-lr": 2.0}, "server-lr"),
    ],
)
def test_impossible_central_configs_fail_with_the_key(values, match):
    with pytest.raises(ConfigError, match=match):
        build_config({"privacy-mode": "central", **values})


def test_delta_must_stay_below_one_over_the_clients():
    cfg = build_config(
        {"privacy-mode": "central", "delta": 0.2, "num-clients": 10, "allow-large-delta": True}
    )
    with pytest.raises(ConfigError, match="delta"):
        CentralDP.from_config(cfg, 10)
