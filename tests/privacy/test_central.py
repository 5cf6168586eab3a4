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
                "popularity-prior": False,
            }
        ),
        100,
    )
    assert targeted.epsilon(30) == pytest.approx(2.0, rel=0.02)


def test_a_resume_that_changes_sigma_composes_every_release_at_its_own_sigma():
    """Planned for 5 rounds, stopped after 3, resumed for 12: the new σ is for the 9 rounds
    left, so the whole run stays at its target (recalibrating every release for 12 rounds
    would report the target while the true ε is larger); a finished run cannot go on."""
    values = {
        "privacy-mode": "central",
        "target-epsilon": 4.0,
        "clients-per-round": 20,
        "num-clients": 100,
        "popularity-prior": False,
    }
    first = CentralDP.from_config(build_config(values | {"num-server-rounds": 5}), 100)
    spent = [first.release()] * 3
    longer = build_config(values | {"num-server-rounds": 12})
    resumed = CentralDP.from_config(longer, 100, spent, rounds_done=3)
    whole = [*spent, *[resumed.release()] * 9]
    assert resumed.epsilon_of(whole) == pytest.approx(4.0, rel=0.02)
    naive = CentralDP.from_config(longer, 100)
    assert naive.epsilon_of([*spent, *[naive.release()] * 9]) > 4.0 * 1.02
    with pytest.raises(ConfigError, match="spent before these steps"):
        CentralDP.from_config(longer, 100, [first.release()] * 5, rounds_done=5)


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


def test_the_popularity_histogram_and_the_releases_share_the_target():
    values = {
        "privacy-mode": "central",
        "target-epsilon": 4.0,
        "clients-per-round": 10,
        "num-clients": 100,
        "num-server-rounds": 20,
    }
    dp = CentralDP.from_config(build_config(values), 100)
    assert dp.popularity_noise > 0
    whole = [(dp.popularity_noise, 1.0, 1), *[dp.release()] * 20]
    assert dp.epsilon_of(whole) == pytest.approx(4.0, rel=0.02)
