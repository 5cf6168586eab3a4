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
    assert dp.delta == pytest.approx(1e-3)
    assert 0 < dp.epsilon(10) < dp.epsilon(20)
    assert dp.epsilon(10) < dp.epsilon_unsampled(10)  # sampling amplifies
    assert dp.epsilon_unsampled(0) == 0.0
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
    cfg = build_config({"privacy-mode": "central", "delta": 0.2, "num-clients": 10})
    with pytest.raises(ConfigError, match="delta"):
        CentralDP.from_config(cfg, 10)
