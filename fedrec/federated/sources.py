"""Where a client's data comes from.

A :class:`ClientSource` hands a client its :class:`ClientInputs`: its own
partition of the training interactions and validation cases, and the catalog
model built over the public catalog. In simulation every client's partition is
cut from the one global split (:class:`GlobalSplitSource`), which one process
builds once and shares among the clients it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from fedrec.config import Config, DataConfig, ModelConfig
from fedrec.data.loading import load_split
from fedrec.data.split import Split
from fedrec.device import pick_device
from fedrec.federated.partition import ClientData, client_data
from fedrec.models.catalog_model import CatalogModel, build_catalog_model


@dataclass(frozen=True)
class ClientInputs:
    """What a client trains and evaluates on."""

    data: ClientData  # its own rows and validation cases
    split: Split  # the catalog and what evaluation reads of it
    cm: CatalogModel  # the model over the public catalog (shared by a process's clients)


class ClientSource(Protocol):
    def inputs(self, cfg: Config, partition_id: int) -> ClientInputs: ...


class GlobalSplitSource:
    """Simulation: partitions cut from the global split, which a process builds once.

    ``threads``: torch threads of a client when ``threads`` is not configured; None
    gives a worker its ``client-cpus`` (Ray workers share the cores; the inline engine,
    which runs one client at a time, passes every core)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def inputs(self, cfg: Config, partition_id: int) -> ClientInputs:
        fed = cfg.federation
        threads = cfg.train.threads or self.threads or max(1, int(fed.client_cpus))
        split, cm = shared_model(cfg.data, cfg.model, cfg.train.seed, cfg.train.device, threads)
        data = client_data(
            split,
            fed.partition,
            fed.num_clients,
            partition_id,
            alpha=fed.dirichlet_alpha,
            seed=cfg.train.seed,
        )
        return ClientInputs(data, split, cm)


@lru_cache(maxsize=2)
def shared_model(
    data: DataConfig, model: ModelConfig, seed: int, device: str, threads: int
) -> tuple[Split, CatalogModel]:
    """The split and catalog model for settings that shape them (not training knobs):
    building them costs seconds, so a process keeps the last two."""
    split = load_split(data, seed=seed)
    return split, build_catalog_model(split, model, data, pick_device(device, threads))
