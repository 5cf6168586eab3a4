"""The whole configuration: one frozen :class:`Config` of typed sections.

Every field of a section is one flat kebab-case key (``lora_rank`` is
``lora-rank``); its ``metadata`` holds the help text and, for choice keys, the
accepted values. Cross-section rules are checked in ``Config.__post_init__``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fedrec.config.federation import DrillConfig, FederationConfig
from fedrec.config.learning import COLD_CLICKS, DataConfig, EvalConfig, ModelConfig, TrainConfig
from fedrec.config.privacy import PrivacyConfig
from fedrec.errors import ConfigError


@dataclass(frozen=True)
class Config:
    """Everything a run needs, one frozen object."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    drills: DrillConfig = field(default_factory=DrillConfig)

    def __post_init__(self) -> None:
        central = self.privacy.privacy_mode == "central"
        if central and self.federation.strategy != "fedavg":
            raise ConfigError(
                f"strategy={self.federation.strategy!r} with privacy-mode='central' is not "
                "supported: the DP-FedAvg noise is calibrated to a plain mean. Use fedavg."
            )
        if central and self.federation.server_lr not in (0.0, 1.0):
            raise ConfigError(
                f"server-lr={self.federation.server_lr} with privacy-mode='central' is not "
                "supported: Flower's DP wrapper adds noise for a plain mean, and a scaled mean "
                "would need more. Leave server-lr at 0."
            )
        if central and self.federation.send_float16:
            raise ConfigError(
                "send-float16=true with privacy-mode='central' would round clipped updates "
                "past the clipping norm: set send-float16=false."
            )
        if central and self.privacy.secure_mode:
            raise ConfigError(
                "secure-mode=true applies to local DP-SGD (Opacus's noise); central DP noise "
                "is added by Flower's DP wrapper with numpy's generator. Set secure-mode=false "
                "or use privacy-mode='local'."
            )
        if self.privacy.secure_aggregation and self.federation.num_clients == 1:
            raise ConfigError(
                "secure-aggregation=true with num-clients=1: one update cannot hide in a "
                "sum. Use 2 or more clients, or secure-aggregation=false."
            )
        if self.privacy.secure_aggregation and self.federation.clients_per_round > 500:
            raise ConfigError(
                f"clients-per-round={self.federation.clients_per_round} with "
                "secure-aggregation=true: SecAgg+ sums at most 1,000 clients in a round "
                "(2^22 quantization levels each under a 2^32 modulus). Lower clients-per-round "
                "to 500 or less."
            )
        if self.model.cold_head and self.data.max_history <= COLD_CLICKS:
            raise ConfigError(
                f"cold-head=true with max-history={self.data.max_history}: every user would be "
                f"seen by at most {COLD_CLICKS} clicks and pooled by the cold tower. Set "
                f"max-history above {COLD_CLICKS}, or cold-head=false."
            )
        if self.privacy.privacy_mode == "local" and self.federation.strategy == "fedprox":
            raise ConfigError(
                "strategy='fedprox' with privacy-mode='local' is not supported: the proximal "
                "term is not part of DP-SGD's clipped gradients. Use fedavg or fedadam."
            )

    def to_flat(self) -> dict[str, Any]:
        """The flat kebab-case form (what a TOML file or the Flower run config holds)."""
        flat: dict[str, Any] = {}
        for section in SECTIONS:
            for f in dataclasses.fields(section.cls):
                flat[kebab(f.name)] = getattr(getattr(self, section.attr), f.name)
        return flat


@dataclass(frozen=True)
class _Section:
    attr: str
    cls: type


SECTIONS = (
    _Section("data", DataConfig),
    _Section("model", ModelConfig),
    _Section("train", TrainConfig),
    _Section("eval", EvalConfig),
    _Section("privacy", PrivacyConfig),
    _Section("federation", FederationConfig),
    _Section("drills", DrillConfig),
)


def kebab(name: str) -> str:
    return name.replace("_", "-")


def known_keys() -> dict[str, tuple[str, dataclasses.Field[Any]]]:
    """Map every kebab-case key to its section attribute and dataclass field."""
    keys = {}
    for section in SECTIONS:
        for f in dataclasses.fields(section.cls):
            keys[kebab(f.name)] = (section.attr, f)
    return keys
