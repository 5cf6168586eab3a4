"""The Flower strategies fedrec aggregates with, and Flower's DP functions it uses.

FedAvg, FedProx and FedAdam (with a server learning rate through FedAvgM);
under central DP, Flower's fixed-clipping DP wrapper (client- or server-side
clipping) around a mean over the *expected* number of clients
(:class:`ExpectedMean`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedProx,
    Strategy,
)
from flwr.supercore import differential_privacy as flwr_dp
from flwr.supercore.logger import FLOWER_LOGGER

from fedrec.config import Config
from fedrec.federated.flower.records import ARRAYS, NUM_EXAMPLES
from fedrec.privacy.central import CentralDP


class _ExpectedDiscrepancy(logging.Filter):
    """Drops Flower's warning that the replies differ from the sampled count: under
    Poisson sampling they do by design, and the mean is over the expected count."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != flwr_dp.CLIENTS_DISCREPANCY_WARNING


def _quiet_expected_discrepancy() -> None:
    if not any(isinstance(f, _ExpectedDiscrepancy) for f in FLOWER_LOGGER.filters):
        FLOWER_LOGGER.addFilter(_ExpectedDiscrepancy())


def make_strategy(cfg: Config, central: CentralDP | None = None) -> Strategy:
    """The configured Flower strategy; clients are weighted by their example counts.

    Under central DP: Flower's fixed-clipping DP wrapper (client- or server-side
    clipping) around a mean over the expected number of clients."""
    fed = cfg.federation
    if central is not None:
        _quiet_expected_discrepancy()
        inner = ExpectedMean(central.expected_clients)
        wrapper = (
            DifferentialPrivacyClientSideFixedClipping
            if cfg.privacy.central_clipping == "client"
            else DifferentialPrivacyServerSideFixedClipping
        )
        return wrapper(
            inner, central.noise_multiplier, central.clipping_norm, central.expected_clients
        )
    common = {
        "fraction_train": 1.0,
        "fraction_evaluate": 1.0,
        "min_train_nodes": 1,
        "min_evaluate_nodes": 1,
        "min_available_nodes": 1,
        "weighted_by_key": NUM_EXAMPLES,
    }
    if fed.strategy == "fedadam":
        return FedAdam(eta=fed.server_lr or 0.01, **common)
    if fed.strategy == "fedprox":
        return FedProx(proximal_mu=fed.proximal_mu, **common)
    server_lr = fed.server_lr or 1.0
    if server_lr != 1.0:
        # global + server-lr * (weighted mean of the client models - global)
        return FedAvgM(server_learning_rate=server_lr, server_momentum=0.0, **common)
    return FedAvg(**common)


class ExpectedMean(FedAvg):
    """DP-FedAvg's aggregate: global + (sum of the clipped updates) / expected clients.

    Dividing by the expected rather than the actual number of replies keeps each
    client's influence at most ``C / expected``, the sensitivity the noise is for."""

    def __init__(self, expected: int) -> None:
        super().__init__(
            fraction_train=1.0,
            fraction_evaluate=1.0,
            min_available_nodes=1,
            min_train_nodes=1,
            min_evaluate_nodes=1,
        )
        self.expected = expected
        self.current: ArrayRecord | None = None

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self.current = arrays
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        if self.current is None:
            raise RuntimeError("aggregate_train before configure_train")
        keys = list(self.current.keys())
        base = self.current.to_numpy_ndarrays()
        total = [np.zeros_like(b, dtype=np.float64) for b in base]
        for reply in replies:
            for t, new, old in zip(
                total, reply.content[ARRAYS].to_numpy_ndarrays(), base, strict=True
            ):
                t += new.astype(np.float64) - old
        return ArrayRecord(
            {
                k: Array((b + t / self.expected).astype(b.dtype))
                for k, b, t in zip(keys, base, total, strict=True)
            }
        ), None


def noise_only(strategy: Strategy, arrays: ArrayRecord) -> ArrayRecord:
    """A central-DP round with no update: the same noise is released all the same
    (a noiseless output would tell that nobody was sampled apart)."""
    return strategy._add_noise_to_aggregated_arrays(
        ArrayRecord(
            {
                k: Array(v.copy())
                for k, v in zip(arrays.keys(), arrays.to_numpy_ndarrays(), strict=True)
            }
        )
    )


def clip_update(update: list[np.ndarray], base: list[np.ndarray], clipping_norm: float) -> None:
    """Flower's clipping of ``update - base`` to ``clipping_norm``, in place."""
    flwr_dp.compute_clip_model_update(update, base, clipping_norm)


def add_central_noise(
    arrays: list[np.ndarray], noise_multiplier: float, clipping_norm: float, expected: int
) -> None:
    """Flower's DP-FedAvg noise on a mean over ``expected`` clients, in place."""
    stdv = flwr_dp.compute_stdv(noise_multiplier, clipping_norm, expected)
    flwr_dp.add_gaussian_noise_inplace(arrays, stdv)
