"""Small value helpers shared by the config sections and the library: lists, layer specs,
range checks, and the names a choice key accepts."""

from __future__ import annotations

from fedrec.errors import ConfigError

DATASETS = (
    "synthetic",
    "movielens-100k",
    "movielens-1m",
    "movielens-latest-small",
    "amazon",
    "csv",
)

#: Baselines run beside the model (the ``baselines`` key).
BASELINES = ("popularity", "scenario-popularity", "ease", "itemknn", "zero-shot")
#: What DP-SGD trains of the text tower (the ``dp-text`` key).
DP_TEXT = ("frozen", "trained")


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


def check_min(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key}={value} must be >= {low}.")


def check_fraction(key: str, value: float, *, high: float) -> None:
    if not 0.0 <= value <= high:
        raise ConfigError(f"{key}={value} must be between 0 and {high}.")
