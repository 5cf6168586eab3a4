"""A node's own privacy policy, and the check of what the server asks against it.

Under local DP the server is the adversary: what it sends is untrusted input.
So a node takes its privacy from its own settings, never from the message: the
policy names the weakest privacy the node accepts (mode, unit, the least noise
or the largest ε, the largest δ, its ε budget), and a request for anything
weaker is refused with an error that says what was asked and what the node
allows. The server may ask for stronger privacy (more noise, a smaller δ);
the node then trains with the request.

Where a policy comes from: a SuperNode's node config (``--node-config
"privacy-mode='local' target-epsilon=4 ..."``, keys as in the run config); in
simulation, the operator's run config, given to the ClientApp by
``fedrec simulate`` (the operator is every node there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fedrec.config import Config
from fedrec.errors import ConfigError
from fedrec.privacy.calibration import MAX_DEFAULT_DELTA, calibrate_remaining
from fedrec.privacy.mechanism import LocalMechanism
from fedrec.privacy.randomness import CSPRNG

#: How much privacy each mode gives a node against the server (higher is stronger).
_MODE_STRENGTH = {"off": 0, "central": 1, "local": 2}
#: Units by what they protect (a user covers each of its interactions).
_UNIT_STRENGTH = {"interaction": 0, "user": 1}
#: Node-config keys a policy reads.
POLICY_KEYS = (
    "privacy-mode",
    "privacy-unit",
    "target-epsilon",
    "noise-multiplier",
    "delta",
    "budget-epsilon",
    "secure-mode",
    "secure-aggregation",
    "dp-popularity-noise",
)
#: Slack for σ computed by two parties with the same accountant.
_SIGMA_SLACK = 1e-6


class PolicyRefusal(ConfigError):
    """The server asked for weaker privacy than this node's policy allows."""


@dataclass(frozen=True)
class NodePolicy:
    """The weakest privacy a node accepts (see the module docstring)."""

    mode: str = "local"
    unit: str = "user"
    target_epsilon: float = 8.0  # the largest ε of a whole planned run (0: use noise)
    noise_multiplier: float = 0.0  # the least σ (0: from target_epsilon)
    delta: float = MAX_DEFAULT_DELTA  # the largest δ
    budget_epsilon: float = 0.0  # the node's ε cap over every round (0: target_epsilon)
    secure_mode: bool = False  # draw the noise from a CSPRNG whatever the server asks
    secure_aggregation: bool = False  # under central DP: send updates masked (SecAgg+) only
    histogram_noise: float = 0.0  # the least σ of the popularity histogram (0: 2 × σ)

    @property
    def budget(self) -> float:
        """The ε past which this node declines to train (0: none)."""
        return self.budget_epsilon or self.target_epsilon

    @classmethod
    def from_config(cls, cfg: Config) -> NodePolicy:
        """The policy that a run config states (simulation: the operator's own)."""
        p = cfg.privacy
        return cls(
            mode=p.privacy_mode,
            unit=cfg.train.privacy_unit,
            target_epsilon=p.target_epsilon,
            noise_multiplier=0.0 if p.target_epsilon else p.noise_multiplier,
            delta=p.delta or MAX_DEFAULT_DELTA,
            budget_epsilon=p.budget_epsilon,
            secure_mode=p.secure_mode,
            secure_aggregation=p.secure_aggregation,
            histogram_noise=0.0 if p.target_epsilon else p.dp_popularity_noise,
        )

    def node_config(self) -> dict[str, Any]:
        """The node config keys that state this policy (read back by ``from_node_config``)."""
        if self.mode == "off":
            return {"privacy-mode": "off"}
        out: dict[str, Any] = {"privacy-mode": self.mode, "privacy-unit": self.unit}
        if self.target_epsilon:
            out["target-epsilon"] = self.target_epsilon
        else:
            out["noise-multiplier"] = self.noise_multiplier
        if self.delta != MAX_DEFAULT_DELTA:
            out["delta"] = self.delta
        if self.budget_epsilon:
            out["budget-epsilon"] = self.budget_epsilon
        if self.secure_mode:
            out["secure-mode"] = True
        if self.secure_aggregation:
            out["secure-aggregation"] = True
        if self.histogram_noise:
            out["dp-popularity-noise"] = self.histogram_noise
        return out

    @classmethod
    def from_node_config(cls, node_config: Mapping[str, Any]) -> NodePolicy | None:
        """The policy a SuperNode's node config names, or None if it names none. Keys it
        leaves out are the default policy's (local DP, per user, ε ≤ 8 unless it names a
        noise multiplier), never the run config's defaults (no privacy)."""
        given = {k: node_config[k] for k in POLICY_KEYS if k in node_config}
        if not given:
            return None
        from fedrec.config import build_config

        default = cls()
        filled: dict[str, Any] = {"privacy-mode": default.mode, "privacy-unit": default.unit}
        if "noise-multiplier" not in given:
            filled["target-epsilon"] = default.target_epsilon
        try:
            return cls.from_config(build_config({**filled, **given}))
        except ConfigError as err:
            raise ConfigError(
                f"this node's privacy policy (node config) is invalid: {err}"
            ) from None

    def check(self, cfg: Config, mechanism: LocalMechanism | None, masked: bool = False) -> None:
        """Refuse a request (the run config, and the local mechanism under local DP) that
        is weaker than this policy; return quietly when it is as strong or stronger.
        ``masked``: the reply will leave this node through SecAgg+ (known to the node,
        never taken from the message)."""
        asked = cfg.privacy.privacy_mode
        if _MODE_STRENGTH[asked] < _MODE_STRENGTH[self.mode]:
            raise PolicyRefusal(
                f"the server asked for privacy-mode={asked!r}; this node's policy requires "
                f"privacy-mode={self.mode!r} or stronger. Refused: nothing was trained."
            )
        if self.secure_aggregation and not masked:
            raise PolicyRefusal(
                f"the server asked for privacy-mode={asked!r} without secure aggregation; "
                "this node's policy (secure-aggregation=true) sends its update only masked, "
                "through SecAgg+. Refused: nothing was trained."
            )
        if self.mode == "off" or asked != "local":
            return
        # Local DP asked of a node whose policy is local, or central (stronger than it
        # asks): the mechanism must meet the node's own unit, δ and ε, as under local.
        if mechanism is None:
            raise PolicyRefusal("the server asked for local DP without sending its mechanism.")
        if _UNIT_STRENGTH[mechanism.unit] < _UNIT_STRENGTH[self.unit]:
            raise PolicyRefusal(
                f"the server asked for privacy-unit={mechanism.unit!r}; this node requires "
                f"{self.unit!r}."
            )
        if mechanism.delta > self.delta * (1 + 1e-9):
            raise PolicyRefusal(
                f"the server asked for delta={mechanism.delta:g}; this node allows at most "
                f"{self.delta:g}."
            )
        self._check_histogram(mechanism)
        floor = self.least_noise(cfg, mechanism)
        if mechanism.noise_multiplier < floor * (1 - _SIGMA_SLACK):
            raise PolicyRefusal(
                f"the server asked for noise-multiplier={mechanism.noise_multiplier:.4g}; this "
                f"node's policy needs at least {floor:.4g} for its run plan (ε ≤ "
                f"{self.target_epsilon:g} over {cfg.federation.num_server_rounds} rounds)."
            )

    def _check_histogram(self, mechanism: LocalMechanism) -> None:
        """Refuse a popularity histogram noised less than this policy allows: one that
        alone spends the policy's ε, or (a policy naming σ) below its
        ``dp-popularity-noise`` or else 2σ, the noise a run with that σ gives it."""
        if not mechanism.popularity_noise:
            return
        if self.target_epsilon > 0:
            first = mechanism.epsilon(mechanism.before_training())
            if first >= self.target_epsilon:
                raise PolicyRefusal(
                    f"the server asked for a popularity histogram at noise "
                    f"{mechanism.popularity_noise:.4g}, which alone spends ε = {first:.3g}; this "
                    f"node's policy allows ε ≤ {self.target_epsilon:g} for the whole run."
                )
        elif mechanism.popularity_noise < self.least_histogram_noise * (1 - _SIGMA_SLACK):
            raise PolicyRefusal(
                f"the server asked for a popularity histogram at noise "
                f"{mechanism.popularity_noise:.4g}; this node's policy needs at least "
                f"{self.least_histogram_noise:.4g} (dp-popularity-noise, or twice its "
                f"noise-multiplier={self.noise_multiplier:g})."
            )

    @property
    def least_histogram_noise(self) -> float:
        """The least σ of the popularity histogram a policy naming σ accepts."""
        return self.histogram_noise or 2 * self.noise_multiplier

    def check_evaluation(self) -> None:
        """Refuse to report exact metrics on this node's validation cases where its policy
        protects its data from the server (local DP, or updates sent only masked): no ε
        covers them, and states the server builds could read its users' held-out items
        out of them query by query."""
        if self.mode == "local" or self.secure_aggregation:
            raise PolicyRefusal(
                "the server asked this node to evaluate on its own validation cases; this "
                f"node's policy (privacy-mode={self.mode!r}"
                f"{', secure-aggregation=true' if self.secure_aggregation else ''}) reports no "
                "metrics computed on its data. Refused: nothing was evaluated."
            )

    def least_noise(self, cfg: Config, mechanism: LocalMechanism) -> float:
        """The smallest σ this node accepts for the run the server plans."""
        if self.noise_multiplier > 0:
            return self.noise_multiplier
        if self.target_epsilon <= 0:
            return 0.0
        fed = cfg.federation
        steps = mechanism.steps(fed.num_server_rounds * fed.local_epochs)
        return calibrate_remaining(
            self.target_epsilon,
            mechanism.delta,
            mechanism.before_training(),
            mechanism.sample_rate,
            steps,
        )

    def randomness(self, mechanism: LocalMechanism) -> str:
        """The node's noise source: a CSPRNG when either side asks for one."""
        return CSPRNG if self.secure_mode else mechanism.randomness
