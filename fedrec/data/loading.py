"""One entry point from a :class:`~fedrec.config.DataConfig` to a validated dataset,
and from a whole :class:`~fedrec.config.Config` to its split."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fedrec.config import Config, DataConfig, split_list
from fedrec.data.schema import RecDataset
from fedrec.data.split import Split, kcore_filter, split_dataset
from fedrec.errors import ConfigError

MOVIELENS = ("movielens-100k", "movielens-1m", "movielens-latest-small")


def load_dataset(cfg: DataConfig, *, seed: int, progress: bool = False) -> RecDataset:
    """Load (or generate) the configured dataset, validated and k-core filtered."""
    from fedrec.data.validate import validate_dataset

    if cfg.dataset == "synthetic":
        from fedrec.data.synthetic import generate_synthetic

        ds = generate_synthetic(
            n_users=cfg.synthetic_users,
            items_per_scenario=cfg.synthetic_items_per_scenario,
            interactions_per_user=cfg.synthetic_interactions_per_user,
            scenario_taste=cfg.synthetic_scenario_taste,
            seed=seed,
        )
        ds = validate_dataset(ds, source="synthetic")
    elif cfg.dataset in MOVIELENS:
        from fedrec.data.movielens import load_movielens

        path = Path(cfg.data_path) if cfg.data_path else None
        if cfg.download:
            from fedrec.data.download import download_dataset

            path = download_dataset(cfg.dataset, path or Path("data"), progress=progress)
        if path is None:  # pragma: no cover - DataConfig rejects this earlier
            raise ConfigError(f"dataset={cfg.dataset!r} needs data-path.")
        ds = load_movielens(
            path,
            cfg.dataset,
            scenario_field=_scenario_field(cfg, auto=None),
            drop_bad_rows=cfg.drop_bad_rows,
        )
    elif cfg.dataset == "amazon":
        from fedrec.data.amazon import load_amazon

        ds = load_amazon(
            cfg.data_path,
            scenario_field=_scenario_field(cfg, auto="auto"),
            drop_bad_rows=cfg.drop_bad_rows,
        )
    elif cfg.dataset == "csv":
        from fedrec.data.tabular import load_tabular

        if not cfg.data_path:
            raise ConfigError("dataset='csv' needs data-path: the CSV or Parquet interaction file.")
        ds = load_tabular(
            cfg.data_path,
            columns=parse_columns(cfg.columns),
            items_path=cfg.items_path or None,
            drop_bad_rows=cfg.drop_bad_rows,
        )
    else:  # pragma: no cover - DataConfig checks the choices
        raise ConfigError(f"unknown dataset {cfg.dataset!r}.")
    return kcore_filter(ds, cfg.kcore)


def prepare_split(cfg: Config, progress: bool = False) -> Split:
    """Load the configured dataset and split it (deterministic by ``seed``)."""
    split = load_split(cfg.data, seed=cfg.train.seed, progress=progress)
    if cfg.eval.k > split.n_items:  # a ranking longer than the catalog cannot be scored
        raise ConfigError(
            f"k={cfg.eval.k} is more than the {split.n_items} items of the catalog: use "
            f"k <= {split.n_items}."
        )
    return split


def load_split(cfg: DataConfig, *, seed: int, progress: bool = False) -> Split:
    """The dataset of ``cfg`` split as ``cfg`` says (deterministic by ``seed``).

    The built-in synthetic data reads no file, so its split is a function of ``cfg``
    and ``seed`` alone: a process (the inline simulation's server and clients) builds
    it once. Data read from files is read again each time (the files may change)."""
    if cfg.dataset == "synthetic":
        return _synthetic_split(cfg, seed)
    return _load_split(cfg, seed=seed, progress=progress)


@lru_cache(maxsize=2)
def _synthetic_split(cfg: DataConfig, seed: int) -> Split:
    return _load_split(cfg, seed=seed)


def _load_split(cfg: DataConfig, *, seed: int, progress: bool = False) -> Split:
    return split_loaded(load_dataset(cfg, seed=seed, progress=progress), cfg, seed=seed)


def split_loaded(ds: RecDataset, cfg: DataConfig, *, seed: int) -> Split:
    """``ds`` (as :func:`load_dataset` gave it for ``cfg``) split as ``cfg`` says."""
    return split_dataset(
        ds,
        cold_item_fraction=cfg.cold_item_fraction,
        cold_user_fraction=cfg.cold_user_fraction,
        cold_user_history=cfg.cold_user_history,
        new_to_scenario_fraction=cfg.new_to_scenario_fraction,
        seed=seed,
    )


def _scenario_field(cfg: DataConfig, auto: str | None) -> str | None:
    if cfg.scenario_field == "auto":
        return auto
    if cfg.scenario_field in ("", "none"):
        return None
    return cfg.scenario_field


def parse_columns(text: str) -> dict[str, str]:
    """``"user_id=uid, item_id=iid"`` -> ``{"user_id": "uid", "item_id": "iid"}``."""
    mapping: dict[str, str] = {}
    for part in split_list(text):
        if "=" not in part:
            raise ConfigError(
                f"columns: {part!r} is not NAME=COLUMN; "
                "write e.g. columns='user_id=uid,item_id=iid'."
            )
        name, column = part.split("=", 1)
        mapping[name.strip()] = column.strip()
    if not mapping:
        raise ConfigError("dataset='csv' needs columns, e.g. columns='user_id=uid,item_id=iid'.")
    return mapping
