"""Sections of what is learned and measured: data, model, training, evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fedrec.config.values import (
    BASELINES,
    DATASETS,
    check_fraction,
    check_min,
    parse_layer_spec,
    split_list,
)
from fedrec.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split."""

    dataset: str = field(default="synthetic", metadata={"help": "data source", "choices": DATASETS})
    data_path: str = field(default="", metadata={"help": "local folder or file of a real dataset"})
    download: bool = field(default=False, metadata={"help": "download MovieLens (checksummed)"})
    scenario_field: str = field(
        default="auto",
        metadata={
            "help": "item field giving the scenario; 'none' = one scenario; amazon: 'file' = "
            "one scenario per category file"
        },
    )
    columns: str = field(
        default="", metadata={"help": "csv column mapping, e.g. 'user_id=uid,item_id=iid'"}
    )
    items_path: str = field(default="", metadata={"help": "csv/parquet item table (csv dataset)"})
    drop_bad_rows: bool = field(
        default=False,
        metadata={
            "help": "drop input rows that cannot be used (unreadable lines, interactions of "
            "items not in the catalog), counted in a warning, instead of stopping"
        },
    )
    synthetic_users: int = field(default=600, metadata={"help": "synthetic: number of users"})
    synthetic_items_per_scenario: int = field(
        default=200, metadata={"help": "synthetic: items per scenario"}
    )
    synthetic_interactions_per_user: int = field(
        default=20, metadata={"help": "synthetic: mean interactions per user"}
    )
    synthetic_scenario_taste: float = field(
        default=0.0,
        metadata={
            "help": "synthetic: share of a user's taste that is their own in each scenario "
            "(0 = one taste for every scenario)"
        },
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
    new_to_scenario_fraction: float = field(
        default=0.0,
        metadata={
            "help": "fraction of users whose history in the scenario of their last "
            "interaction is withheld from training, then scored on that scenario's items "
            "from their other scenarios (the new-to-scenario slice; 0 = none)"
        },
    )
    max_history: int = field(default=20, metadata={"help": "most recent items a user is seen by"})

    def __post_init__(self) -> None:
        check_fraction("synthetic-scenario-taste", self.synthetic_scenario_taste, high=1.0)
        check_fraction("cold-item-fraction", self.cold_item_fraction, high=0.9)
        check_fraction("cold-user-fraction", self.cold_user_fraction, high=0.9)
        check_fraction("new-to-scenario-fraction", self.new_to_scenario_fraction, high=0.9)
        check_min("cold-user-history", self.cold_user_history, 0)
        check_min("max-history", self.max_history, 1)
        check_min("kcore", self.kcore, 0)
        check_min("synthetic-users", self.synthetic_users, 1)
        check_min("synthetic-items-per-scenario", self.synthetic_items_per_scenario, 5)
        check_min("synthetic-interactions-per-user", self.synthetic_interactions_per_user, 3)
        needs_path = self.dataset not in ("synthetic", "csv") and not self.data_path
        if needs_path and not self.download:
            raise ConfigError(
                f"dataset={self.dataset!r} needs data-path: set data-path to the folder "
                "holding its original files (or download=true for MovieLens)."
            )


#: Most clicks a user may have and still be pooled by the cold tower (``cold-head``).
COLD_CLICKS = 5


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
    scenario_input: bool = field(
        default=False,
        metadata={
            "help": "the scenario a request is for becomes a model input: a learned "
            "scenario vector joins the user vector and the history's items in that "
            "scenario get a learned weight in the pool"
        },
    )
    cold_head: bool = field(
        default=False,
        metadata={
            "help": "users seen by 1-5 clicks are served by a user tower of their own (pool "
            "weights and head), trained beside the model on each example's owner by their "
            "first 1-5 clicks with the item tower held fixed (the rest of the model trains "
            "as without it; needs max-history > 5)"
        },
    )
    temperature: float = field(default=0.1, metadata={"help": "softmax temperature"})
    popularity_prior: bool = field(
        default=True,
        metadata={
            "help": "start the item bias from each item's popularity in the training data "
            "(under DP a noised histogram, released once and accounted; see "
            "dp-popularity-noise)"
        },
    )
    popularity_prior_weight: float = field(
        default=1.0,
        metadata={
            "help": "the item bias starts at this times log(1 + count): how far scores "
            "lean on popularity before training moves them"
        },
    )

    def __post_init__(self) -> None:
        check_min("max-tokens", self.max_tokens, 4)
        check_min("lora-rank", self.lora_rank, 0)
        check_min("embed-dim", self.embed_dim, 2)
        if self.lora_alpha <= 0:
            raise ConfigError(f"lora-alpha={self.lora_alpha} must be > 0.")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora-dropout={self.lora_dropout} must be in [0, 1).")
        if self.temperature <= 0:
            raise ConfigError(f"temperature={self.temperature} must be > 0.")
        if self.popularity_prior_weight < 0:
            raise ConfigError(
                f"popularity-prior-weight={self.popularity_prior_weight} must be >= 0 "
                "(0 starts every item bias at 0, like popularity-prior = false)."
            )
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
    short_history_share: float = field(
        default=0.0,
        metadata={
            "help": "share of training examples whose history is cut to 0-5 items (see "
            "short-history-from), so training sees users like cold-start ones (0 = off)"
        },
    )
    short_history_from: str = field(
        default="recent",
        metadata={
            "help": "which items a shortened history keeps: the 'recent' ones before the "
            "target, or the user's 'first' ones (like a cold-start user's first clicks)",
            "choices": ("recent", "first"),
        },
    )
    cold_view_weight: float = field(
        default=1.0,
        metadata={
            "help": "each example's loss adds this times the loss of the same target "
            "seen from a cold view of its user (profile and 0-5 clicks, see "
            "short-history-from), so the profile learns to stand alone (0 = off)"
        },
    )
    scenario_view_weight: float = field(
        default=0.0,
        metadata={
            "help": "each example's loss adds this times the loss of the same target "
            "ranked among its scenario's items, the user seen without their history in "
            "that scenario but its 0-3 earliest events, like a user new to it (0 = off)"
        },
    )
    scenario_dropout_share: float = field(
        default=0.0,
        metadata={
            "help": "share of training examples whose history loses its items in the "
            "target's scenario but the 0-3 earliest, so training sees users new to a "
            "scenario (0 = off)"
        },
    )
    patience: int = field(default=3, metadata={"help": "epochs without val NDCG gain (0 = off)"})
    seed: int = field(default=0, metadata={"help": "random seed for everything"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu' or 'cuda'"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = all cores)"})

    def __post_init__(self) -> None:
        check_min("epochs", self.epochs, 1)
        check_min("batch-size", self.batch_size, 1)
        check_min("negatives", self.negatives, 1)
        check_min("patience", self.patience, 0)
        check_min("max-rows-per-epoch", self.max_rows_per_epoch, 0)
        check_min("seed", self.seed, 0)
        check_min("threads", self.threads, 0)
        if self.weight_decay < 0:
            raise ConfigError(f"weight-decay={self.weight_decay} must be >= 0.")
        if not 0.0 <= self.short_history_share <= 1.0:
            raise ConfigError(
                f"short-history-share={self.short_history_share} must be in [0, 1] (0 = off)."
            )
        if self.cold_view_weight < 0:
            raise ConfigError(f"cold-view-weight={self.cold_view_weight} must be >= 0 (0 = off).")
        if self.scenario_view_weight < 0:
            raise ConfigError(
                f"scenario-view-weight={self.scenario_view_weight} must be >= 0 (0 = off)."
            )
        check_fraction("scenario-dropout-share", self.scenario_dropout_share, high=1.0)
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be > 0.")


@dataclass(frozen=True)
class EvalConfig:
    """Full-ranking evaluation and baselines."""

    k: int = field(default=10, metadata={"help": "cut-off of the @K metrics"})
    baselines: str = field(
        default="popularity,scenario-popularity,ease,itemknn,zero-shot",
        metadata={
            "help": "comma list of baselines to run beside the model (scenario-popularity: "
            "each scenario's popularity weighted by the user's history in it; skipped "
            "on data with one scenario)"
        },
    )
    ease_l2: str = field(
        default="10,50,200,500,1000", metadata={"help": "EASE l2 grid, chosen on validation"}
    )

    def __post_init__(self) -> None:
        check_min("k", self.k, 1)
        try:
            grid = [float(v) for v in split_list(self.ease_l2)]
        except ValueError:
            grid = []
        if not grid or not all(0 < v < math.inf for v in grid):  # NaN fails it too
            raise ConfigError(
                f"ease-l2={self.ease_l2!r}: give one or more positive numbers, e.g. '100,500'."
            )
        for name in split_list(self.baselines):
            if name not in BASELINES:
                raise ConfigError(
                    f"baselines: unknown baseline {name!r}; choose from {sorted(BASELINES)}."
                )
