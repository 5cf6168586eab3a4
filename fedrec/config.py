"""One typed configuration, parsed once at the edge.

Every setting has one flat kebab-case key (``lora-rank``, ``data-path``), the same
key in a TOML file, on the command line (``--set lora-rank=16``) and, for
federated runs, in ``[tool.flwr.app.config]``. Keys are grouped into frozen
dataclasses (:class:`DataConfig`, :class:`ModelConfig`, :class:`TrainConfig`,
:class:`EvalConfig`) that the library receives; the library never reads raw dicts.

Unknown keys and values of the wrong type are a :class:`~fedrec.errors.ConfigError`
naming the key and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrec.errors import ConfigError

DATASETS = (
    "synthetic",
    "movielens-100k",
    "movielens-1m",
    "movielens-latest-small",
    "amazon",
    "csv",
)


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split."""

    dataset: str = field(default="synthetic", metadata={"help": "data source", "choices": DATASETS})
    data_path: str = field(default="", metadata={"help": "local folder or file of a real dataset"})
    download: bool = field(default=False, metadata={"help": "download MovieLens (checksummed)"})
    scenario_field: str = field(
        default="auto", metadata={"help": "item field giving the scenario; 'none' = one scenario"}
    )
    columns: str = field(
        default="", metadata={"help": "csv column mapping, e.g. 'user_id=uid,item_id=iid'"}
    )
    items_path: str = field(default="", metadata={"help": "csv/parquet item table (csv dataset)"})
    synthetic_users: int = field(default=600, metadata={"help": "synthetic: number of users"})
    synthetic_items_per_scenario: int = field(
        default=200, metadata={"help": "synthetic: items per scenario"}
    )
    synthetic_interactions_per_user: int = field(
        default=20, metadata={"help": "synthetic: mean interactions per user"}
    )
    kcore: int = field(default=0, metadata={"help": "k-core filter (0 = off)"})
    cold_item_fraction: float = field(
        default=0.1, metadata={"help": "fraction of items withheld from training"}
    )
    cold_user_fraction: float = field(
        default=0.1, metadata={"help": "fraction of users withheld from training"}
    )
    cold_user_history: int = field(
        default=3, metadata={"help": "first clicks a cold user is scored from (0 = profile only)"}
    )
    max_history: int = field(default=20, metadata={"help": "most recent items a user is seen by"})

    def __post_init__(self) -> None:
        _check_fraction("cold-item-fraction", self.cold_item_fraction, high=0.9)
        _check_fraction("cold-user-fraction", self.cold_user_fraction, high=0.9)
        _check_min("cold-user-history", self.cold_user_history, 0)
        _check_min("max-history", self.max_history, 1)
        _check_min("kcore", self.kcore, 0)
        needs_path = self.dataset not in ("synthetic", "csv") and not self.data_path
        if needs_path and not self.download:
            raise ConfigError(
                f"dataset={self.dataset!r} needs data-path: set data-path to the folder "
                "holding its original files (or download=true for MovieLens)."
            )


@dataclass(frozen=True)
class ModelConfig:
    """The two-tower text recommender: frozen backbone, LoRA, heads, fusion."""

    backbone: str = field(
        default="", metadata={"help": "model id or local path ('' = bundled all-MiniLM-L6-v2)"}
    )
    max_tokens: int = field(default=32, metadata={"help": "tokens per item text"})
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank (0 = no LoRA)"})
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA scaling alpha"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    lora_targets: str = field(
        default="query,value", metadata={"help": "comma list of module names to adapt"}
    )
    lora_layers: str = field(
        default="top-1", metadata={"help": "'top-N', 'all' or a comma list of layer indices"}
    )
    embed_dim: int = field(default=64, metadata={"help": "dimension of the scoring space"})
    fusion: str = field(
        default="id",
        metadata={"help": "collaborative part for warm items", "choices": ("none", "bias", "id")},
    )
    use_profile: bool = field(default=True, metadata={"help": "add profile text to the user"})
    profile_head: str = field(
        default="item",
        metadata={
            "help": "how a profile text joins the user: item (through the item head, pooled "
            "with the history as one more item; no parameters of its own) or own (a "
            "separate linear head added to the user vector)",
            "choices": ("item", "own"),
        },
    )
    temperature: float = field(default=0.1, metadata={"help": "softmax temperature"})

    def __post_init__(self) -> None:
        _check_min("max-tokens", self.max_tokens, 4)
        _check_min("lora-rank", self.lora_rank, 0)
        _check_min("embed-dim", self.embed_dim, 2)
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora-dropout={self.lora_dropout} must be in [0, 1).")
        if self.temperature <= 0:
            raise ConfigError(f"temperature={self.temperature} must be > 0.")
        parse_layer_spec(self.lora_layers, num_layers=None)


@dataclass(frozen=True)
class TrainConfig:
    """Local (or centralized) training."""

    epochs: int = field(default=12, metadata={"help": "passes over the training rows"})
    batch_size: int = field(default=256, metadata={"help": "rows per optimizer step"})
    lr: float = field(default=2e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    negatives: int = field(default=128, metadata={"help": "catalog negatives per step"})
    privacy_unit: str = field(
        default="interaction",
        metadata={
            "help": "one row per 'user' or per 'interaction'",
            "choices": ("user", "interaction"),
        },
    )
    max_rows_per_epoch: int = field(
        default=0, metadata={"help": "cap on training rows per epoch (0 = all)"}
    )
    patience: int = field(default=3, metadata={"help": "epochs without val NDCG gain (0 = off)"})
    seed: int = field(default=0, metadata={"help": "random seed for everything"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu' or 'cuda'"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = all cores)"})

    def __post_init__(self) -> None:
        _check_min("epochs", self.epochs, 1)
        _check_min("batch-size", self.batch_size, 1)
        _check_min("negatives", self.negatives, 1)
        _check_min("patience", self.patience, 0)
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be > 0.")


@dataclass(frozen=True)
class EvalConfig:
    """Full-ranking evaluation and baselines."""

    k: int = field(default=10, metadata={"help": "cut-off of the @K metrics"})
    baselines: str = field(
        default="popularity,ease,itemknn,zero-shot",
        metadata={"help": "comma list of baselines to run beside the model"},
    )
    ease_l2: str = field(
        default="10,50,200,500,1000", metadata={"help": "EASE l2 grid, chosen on validation"}
    )

    def __post_init__(self) -> None:
        _check_min("k", self.k, 1)
        try:
            grid = [float(v) for v in split_list(self.ease_l2)]
        except ValueError:
            grid = []
        if not grid:
            raise ConfigError(
                f"ease-l2={self.ease_l2!r}: give one or more numbers, e.g. '100,500'."
            )
        known = {"popularity", "ease", "itemknn", "zero-shot"}
        for name in split_list(self.baselines):
            if name not in known:
                raise ConfigError(
                    f"baselines: unknown baseline {name!r}; choose from {sorted(known)}."
                )


@dataclass(frozen=True)
class PrivacyConfig:
    """Differential privacy of training (see :mod:`fedrec.privacy.dp_sgd`)."""

    privacy_mode: str = field(
        default="off",
        metadata={
            "help": "'local' = DP-SGD where the data is; 'central' = client-level DP-FedAvg "
            "(noised aggregate); 'off' = none",
            "choices": ("off", "local", "central"),
        },
    )
    noise_multiplier: float = field(default=1.0, metadata={"help": "Gaussian noise / clip norm"})
    max_grad_norm: float = field(
        default=1.0,
        metadata={"help": "clipping norm: per sample (local), per client update (central)"},
    )
    central_clipping: str = field(
        default="client",
        metadata={
            "help": "central: where updates are clipped (Flower's DP wrappers)",
            "choices": ("client", "server"),
        },
    )
    target_epsilon: float = field(
        default=0.0,
        metadata={"help": "pick the noise for this ε over the run (0 = use noise-multiplier)"},
    )
    delta: float = field(default=0.0, metadata={"help": "δ of the guarantee (0 = 1/(10 N))"})
    dp_negatives: int = field(
        default=128,
        metadata={"help": "catalog negatives per example under DP"},
    )
    dp_text: str = field(
        default="frozen",
        metadata={
            "help": "under DP: frozen (the LoRA text tower is held fixed, heads and ID terms "
            "train; cheaper than a non-private step) or trained (LoRA trains too, 1 + "
            "dp-negatives encodings per example)",
            "choices": ("frozen", "trained"),
        },
    )
    dp_physical_batch: int = field(
        default=0,
        metadata={
            "help": "under local DP: most examples per backward pass; a larger Poisson batch "
            "is split and its clipped gradients summed before one noisy step (0 = sized so "
            "the per-sample gradients stay under 32 MiB on the CPU, 1 GiB on a GPU)"
        },
    )
    budget_epsilon: float = field(
        default=0.0, metadata={"help": "per-client ε cap; a round that would pass it is declined"}
    )
    secure_mode: bool = field(default=False, metadata={"help": "cryptographically secure noise"})

    def __post_init__(self) -> None:
        if self.noise_multiplier < 0:
            raise ConfigError(f"noise-multiplier={self.noise_multiplier} must be >= 0.")
        if self.max_grad_norm <= 0:
            raise ConfigError(f"max-grad-norm={self.max_grad_norm} must be > 0.")
        if self.target_epsilon < 0:
            raise ConfigError(f"target-epsilon={self.target_epsilon} must be >= 0 (0 = off).")
        if not 0.0 <= self.delta < 1.0:
            raise ConfigError(f"delta={self.delta} must be in [0, 1).")
        _check_min("dp-negatives", self.dp_negatives, 1)
        _check_min("dp-physical-batch", self.dp_physical_batch, 0)
        if self.budget_epsilon < 0:
            raise ConfigError(f"budget-epsilon={self.budget_epsilon} must be >= 0 (0 = no cap).")


@dataclass(frozen=True)
class FederationConfig:
    """Federated training: rounds, clients, partitions, strategy, faults."""

    num_server_rounds: int = field(default=5, metadata={"help": "federated rounds"})
    # 2 matches the SuperNodes of Flower's default local simulation federation.
    num_clients: int = field(
        default=2, metadata={"help": "clients (0 = natural count of the partition)"}
    )
    clients_per_round: int = field(
        default=0, metadata={"help": "clients sampled per round (0 = all)"}
    )
    local_epochs: int = field(default=1, metadata={"help": "local epochs per round"})
    partition: str = field(
        default="user",
        metadata={"help": "how data is divided", "choices": ("user", "scenario", "dirichlet")},
    )
    dirichlet_alpha: float = field(
        default=0.5, metadata={"help": "Dirichlet concentration (partition=dirichlet)"}
    )
    strategy: str = field(
        default="fedavg",
        metadata={"help": "aggregation", "choices": ("fedavg", "fedprox", "fedadam")},
    )
    proximal_mu: float = field(default=0.01, metadata={"help": "FedProx proximal weight"})
    server_lr: float = field(
        default=0.0,
        metadata={
            "help": "server learning rate on the mean update (0 = the strategy's default: "
            "1 for fedavg, 0.01 for fedadam; fedprox uses 1)"
        },
    )
    min_replies: int = field(
        default=1, metadata={"help": "fewest successful clients to aggregate a round"}
    )
    server_eval_every: int = field(
        default=1, metadata={"help": "rounds between full server-side test evaluations"}
    )
    send_float16: bool = field(
        default=False, metadata={"help": "send the trainable state in float16"}
    )
    run_dir: str = field(default="runs/flwr", metadata={"help": "run directory for 'flwr run'"})
    fail_clients: str = field(
        default="", metadata={"help": "partition ids that raise in training (fault drills)"}
    )
    client_cpus: float = field(
        default=1.0, metadata={"help": "simulation: CPU cores reserved per client"}
    )
    client_state_dir: str = field(
        default="",
        metadata={"help": "where clients keep their privacy accountant on disk ('' = memory)"},
    )

    def __post_init__(self) -> None:
        _check_min("num-server-rounds", self.num_server_rounds, 1)
        _check_min("num-clients", self.num_clients, 0)
        _check_min("clients-per-round", self.clients_per_round, 0)
        _check_min("local-epochs", self.local_epochs, 1)
        _check_min("min-replies", self.min_replies, 1)
        _check_min("server-eval-every", self.server_eval_every, 1)
        if self.server_lr < 0:
            raise ConfigError(f"server-lr={self.server_lr} must be >= 0 (0 = strategy default).")
        if self.strategy == "fedprox" and self.server_lr not in (0.0, 1.0):
            raise ConfigError(
                f"server-lr={self.server_lr} does not apply to strategy=fedprox (its server "
                "step is FedAvg's): use strategy=fedavg with server-lr, or leave server-lr at 0."
            )
        if self.dirichlet_alpha <= 0:
            raise ConfigError(f"dirichlet-alpha={self.dirichlet_alpha} must be > 0.")
        if self.num_clients and self.clients_per_round > self.num_clients:
            raise ConfigError(
                f"clients-per-round={self.clients_per_round} is more than num-clients="
                f"{self.num_clients}: lower clients-per-round (0 = all)."
            )
        if self.client_cpus <= 0:
            raise ConfigError(f"client-cpus={self.client_cpus} must be > 0.")
        try:
            [int(v) for v in split_list(self.fail_clients)]
        except ValueError:
            raise ConfigError(
                f"fail-clients={self.fail_clients!r}: give partition ids like '0,3'."
            ) from None


@dataclass(frozen=True)
class Config:
    """Everything a run needs, one frozen object."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)

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
        if self.privacy.privacy_mode == "local" and self.federation.strategy == "fedprox":
            raise ConfigError(
                "strategy='fedprox' with privacy-mode='local' is not supported: the proximal "
                "term is not part of DP-SGD's clipped gradients. Use fedavg or fedadam."
            )

    def to_flat(self) -> dict[str, Any]:
        """The flat kebab-case form (what a TOML file or the Flower run config holds)."""
        flat: dict[str, Any] = {}
        for section in _SECTIONS:
            for f in dataclasses.fields(section.cls):
                flat[_kebab(f.name)] = getattr(getattr(self, section.attr), f.name)
        return flat


@dataclass(frozen=True)
class _Section:
    attr: str
    cls: type


_SECTIONS = (
    _Section("data", DataConfig),
    _Section("model", ModelConfig),
    _Section("train", TrainConfig),
    _Section("eval", EvalConfig),
    _Section("privacy", PrivacyConfig),
    _Section("federation", FederationConfig),
)


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def known_keys() -> dict[str, tuple[str, dataclasses.Field[Any]]]:
    """Map every kebab-case key to its section attribute and dataclass field."""
    keys = {}
    for section in _SECTIONS:
        for f in dataclasses.fields(section.cls):
            keys[_kebab(f.name)] = (section.attr, f)
    return keys


def _field_type(f: dataclasses.Field[Any], owner: type) -> type:
    hints = typing.get_type_hints(owner)
    tp = hints[f.name]
    if isinstance(tp, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def _coerce(key: str, value: Any, tp: type) -> Any:
    """Turn a TOML value or a command-line string into the field's type."""
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on"}:
            return True
        if isinstance(value, str) and value.lower() in {"false", "0", "no", "off"}:
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}.")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}.")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}.") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}.") from None
    if tp is str:
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)
    raise ConfigError(f"{key}: unsupported type {tp}.")  # pragma: no cover


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``KEY=VALUE`` strings from the command line."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, for example --set seed=1.")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A TOML document, or a ConfigError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist: check the --config path.")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{what} {path} is not valid TOML: {err}.") from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file: top-level keys, or a ``[fedrec]`` table, or Flower's app config."""
    doc = read_toml(path)
    if "fedrec" in doc and isinstance(doc["fedrec"], dict):
        return dict(doc["fedrec"])
    app_cfg = doc.get("tool", {}).get("flwr", {}).get("app", {}).get("config")
    if isinstance(app_cfg, dict):
        return dict(app_cfg)
    return doc


def build_config(values: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> Config:
    """Build a :class:`Config` from flat kebab-case keys, rejecting unknown ones.

    Keys listed in ``ignore`` belong to another layer (e.g. federation keys) and
    are skipped here.
    """
    keys = known_keys()
    ignored = set(ignore)
    per_section: dict[str, dict[str, Any]] = {s.attr: {} for s in _SECTIONS}
    for raw_key, value in values.items():
        key = str(raw_key).strip()
        if key in ignored:
            continue
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys) + list(ignored), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown config key {key!r}.{hint} Run 'fedrec config' to list the keys."
            )
        attr, f = keys[key]
        owner = next(s.cls for s in _SECTIONS if s.attr == attr)
        coerced = _coerce(key, value, _field_type(f, owner))
        choices = f.metadata.get("choices")
        if choices and coerced not in choices:
            raise ConfigError(f"{key}={coerced!r} is not one of {list(choices)}.")
        per_section[attr][f.name] = coerced
    return Config(**{s.attr: s.cls(**per_section[s.attr]) for s in _SECTIONS})


def resolve(config_file: str | Path | None, overrides: Iterable[str] = ()) -> Config:
    """The CLI's path: a TOML file (optional), then ``--set`` overrides on top."""
    values: dict[str, Any] = {}
    if config_file:
        values.update(load_toml(config_file))
    values.update(parse_overrides(overrides))
    return build_config(values)


def describe_keys() -> list[tuple[str, str, str]]:
    """(key, default, help) for every key, for ``fedrec config``."""
    rows = []
    for key, (_, f) in known_keys().items():
        default = f.default if f.default is not dataclasses.MISSING else ""
        rows.append((key, repr(default), str(f.metadata.get("help", ""))))
    return rows


def split_list(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (empty items dropped)."""
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_layer_spec(spec: str, num_layers: int | None) -> list[int] | None:
    """Turn ``top-N`` / ``all`` / ``"4,5"`` into layer indices (None = all layers).

    With ``num_layers=None`` only the syntax is checked.
    """
    spec = spec.strip().lower()
    if spec == "all":
        return None if num_layers is None else list(range(num_layers))
    if spec.startswith("top-"):
        try:
            n = int(spec[4:])
        except ValueError:
            n = -1
        if n < 1:
            raise ConfigError(f"lora-layers={spec!r}: use 'top-N' with N >= 1, 'all', or '4,5'.")
        if num_layers is None:
            return None
        if n > num_layers:
            raise ConfigError(
                f"lora-layers={spec!r}: the backbone has only {num_layers} layers; "
                f"use top-{num_layers} or less."
            )
        return list(range(num_layers - n, num_layers))
    try:
        layers = sorted({int(p) for p in split_list(spec)})
    except ValueError:
        raise ConfigError(
            f"lora-layers={spec!r}: use 'top-N', 'all', or a list like '4,5'."
        ) from None
    if not layers:
        raise ConfigError("lora-layers is empty: use 'top-N', 'all', or a list like '4,5'.")
    if num_layers is not None and (layers[0] < 0 or layers[-1] >= num_layers):
        raise ConfigError(
            f"lora-layers={spec!r}: indices must be in 0..{num_layers - 1} for this backbone."
        )
    return layers


def _check_min(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key}={value} must be >= {low}.")


def _check_fraction(key: str, value: float, *, high: float) -> None:
    if not 0.0 <= value <= high:
        raise ConfigError(f"{key}={value} must be between 0 and {high}.")
