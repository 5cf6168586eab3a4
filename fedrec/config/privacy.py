"""The privacy section: which DP mechanism, its noise, clipping, δ and budget."""

from __future__ import annotations

from dataclasses import dataclass, field

from fedrec.config.values import DP_TEXT, check_min
from fedrec.errors import ConfigError


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
    secure_aggregation: bool = field(
        default=False,
        metadata={
            "help": "central: Flower's SecAgg+ masks every client's clipped update (and "
            "popularity histogram), so the server learns only their sum (needs "
            "central-clipping=client and at least 2 clients in a round)"
        },
    )
    target_epsilon: float = field(
        default=0.0,
        metadata={"help": "pick the noise for this ε over the run (0 = use noise-multiplier)"},
    )
    delta: float = field(
        default=0.0,
        metadata={
            "help": "δ of the guarantee (0 = min(1e-5, N^-1.1) for the N privacy units the "
            "guarantee covers, the whole population: users or records of every client)"
        },
    )
    allow_large_delta: bool = field(
        default=False,
        metadata={"help": "accept delta above 1e-3 (a weak guarantee; off: refused)"},
    )
    dp_population: int = field(
        default=0,
        metadata={
            "help": "N for δ: the privacy units the guarantee covers (0 = counted from the "
            "data: users, or user-days under privacy-unit=interaction)"
        },
    )
    dp_sample_rate: float = field(
        default=0.0,
        metadata={
            "help": "under local DP: the Poisson rate at which a client samples its records, "
            "the same public value for every client (0 = batch-size over the records of the "
            "mean client, set once when a run starts)"
        },
    )
    dp_window: int = field(
        default=86_400,
        metadata={
            "help": "privacy-unit=interaction: seconds of one record, a user's interactions "
            "in one window (a row's history never reaches outside its window, so one "
            "interaction changes one record)"
        },
    )
    dp_popularity_noise: float = field(
        default=0.0,
        metadata={
            "help": "under DP with popularity-prior: σ of the popularity histogram's Gaussian "
            "noise, one record moving it by at most 1 (0 = the σ that spends "
            "dp-popularity-share of target-epsilon on it, or 2 x noise-multiplier without a "
            "target)"
        },
    )
    dp_popularity_share: float = field(
        default=0.5,
        metadata={
            "help": "the share of target-epsilon the popularity histogram spends when "
            "dp-popularity-noise is 0 (the DP-SGD steps get the rest)"
        },
    )
    dp_negatives: int = field(
        default=128,
        metadata={"help": "catalog negatives per example under DP"},
    )
    dp_text: str = field(
        default="frozen",
        metadata={
            "help": "under DP: frozen (the LoRA text tower is held fixed, heads and ID terms "
            "train; cheaper than a non-private step) or trained (LoRA trains too, through "
            "each example's positive and dp-text-negatives of its negatives)",
            "choices": DP_TEXT,
        },
    )
    dp_text_negatives: int = field(
        default=4,
        metadata={
            "help": "dp-text = trained: negatives per example whose gradient reaches LoRA, "
            "drawn by their softmax weight (an unbiased estimate of the gradient through "
            "all dp-negatives); >= dp-negatives: all of them, exactly (1 + dp-negatives "
            "encodings per example)"
        },
    )
    dp_text_clip_share: float = field(
        default=0.5,
        metadata={
            "help": "dp-text = trained: LoRA's per-example gradient is clipped to this share "
            "of max-grad-norm and the rest to sqrt(1 - share^2) of it (an example still "
            "moves the sum by at most max-grad-norm); 0 = one clipping over everything"
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
        if self.delta > 1e-3 and not self.allow_large_delta:
            raise ConfigError(
                f"delta={self.delta:g} is above 1e-3: the ε bound would fail with a probability "
                "no privacy claim should accept. Lower delta (or leave it 0 for min(1e-5, "
                "N^-1.1)), or set allow-large-delta=true to accept it knowingly."
            )
        if not 0.0 <= self.dp_sample_rate <= 1.0:
            raise ConfigError(f"dp-sample-rate={self.dp_sample_rate} must be in [0, 1].")
        check_min("dp-population", self.dp_population, 0)
        check_min("dp-window", self.dp_window, 1)
        if not 0.0 < self.dp_popularity_share < 1.0:
            raise ConfigError(
                f"dp-popularity-share={self.dp_popularity_share} must be between 0 and 1."
            )
        if self.dp_popularity_noise < 0:
            raise ConfigError(
                f"dp-popularity-noise={self.dp_popularity_noise} must be >= 0 (0 = from "
                "dp-popularity-share); to release no histogram set popularity-prior=false."
            )
        if (
            self.privacy_mode in ("local", "central")
            and self.noise_multiplier == 0
            and self.target_epsilon == 0
        ):
            raise ConfigError(
                f"privacy-mode={self.privacy_mode!r} with noise-multiplier=0 adds no noise: "
                "there is no guarantee to give. Set target-epsilon (or noise-multiplier > 0), "
                "or privacy-mode=off."
            )
        if self.secure_aggregation and self.privacy_mode != "central":
            raise ConfigError(
                f"secure-aggregation=true with privacy-mode={self.privacy_mode!r}: secure "
                "aggregation hides each client's update in a sum under central DP. Set "
                "privacy-mode='central' (under local DP updates leave clients noised already)."
            )
        if self.secure_aggregation and self.central_clipping != "client":
            raise ConfigError(
                "secure-aggregation=true needs central-clipping='client': the server never "
                "sees an update it could clip."
            )
        check_min("dp-negatives", self.dp_negatives, 1)
        check_min("dp-text-negatives", self.dp_text_negatives, 1)
        if not 0 <= self.dp_text_clip_share < 1:
            raise ConfigError(
                f"dp-text-clip-share={self.dp_text_clip_share} must be in [0, 1): the share "
                "of max-grad-norm LoRA's gradient is clipped to (0 = one clipping)."
            )
        check_min("dp-physical-batch", self.dp_physical_batch, 0)
        if self.budget_epsilon < 0:
            raise ConfigError(f"budget-epsilon={self.budget_epsilon} must be >= 0 (0 = no cap).")


#: What ``flwr run .`` and ``fedrec deploy`` run with where the library's defaults would
#: train without privacy: local DP, ε = 8 per user over the run, as a privacy framework
#: should start (and what a node's default policy accepts). ``[tool.flwr.app.config]``
#: holds the library defaults with these on top.
APP_PRIVACY_DEFAULTS: dict[str, object] = {
    "privacy-mode": "local",
    "privacy-unit": "user",
    "target-epsilon": 8.0,
}
