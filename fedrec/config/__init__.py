"""One typed configuration, parsed once at the edge.

Every setting has one flat kebab-case key (``lora-rank``, ``data-path``), the same
key in a TOML file, on the command line (``--set lora-rank=16``) and, for
federated runs, in ``[tool.flwr.app.config]``. Keys are grouped into frozen
dataclasses (:mod:`fedrec.config.sections`) that the library receives; the
library never reads raw dicts. :mod:`fedrec.config.parse` builds them from
flat keys; :mod:`fedrec.config.sections` holds the whole :class:`Config`.
"""

from fedrec.config.federation import DrillConfig, FederationConfig
from fedrec.config.learning import DataConfig, EvalConfig, ModelConfig, TrainConfig
from fedrec.config.parse import (
    build_config,
    describe_keys,
    load_toml,
    parse_overrides,
    read_toml,
    resolve,
    toml_value,
)
from fedrec.config.privacy import APP_PRIVACY_DEFAULTS, PrivacyConfig
from fedrec.config.sections import Config, known_keys
from fedrec.config.values import (
    BASELINES,
    DATASETS,
    DP_TEXT,
    parse_layer_spec,
    split_list,
)

__all__ = [
    "APP_PRIVACY_DEFAULTS",
    "BASELINES",
    "DATASETS",
    "DP_TEXT",
    "Config",
    "DataConfig",
    "DrillConfig",
    "EvalConfig",
    "FederationConfig",
    "ModelConfig",
    "PrivacyConfig",
    "TrainConfig",
    "build_config",
    "describe_keys",
    "known_keys",
    "load_toml",
    "parse_layer_spec",
    "parse_overrides",
    "read_toml",
    "resolve",
    "split_list",
    "toml_value",
]
