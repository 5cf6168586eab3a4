"""Sections of federated runs: rounds, clients, partitions, strategy; fault drills."""

from __future__ import annotations

from dataclasses import dataclass, field

from fedrec.config.values import check_min, split_list
from fedrec.errors import ConfigError


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
    client_eval_every: int = field(
        default=1,
        metadata={
            "help": "rounds between the sampled clients' evaluations on their own validation "
            "cases (0 = never; never under local DP)"
        },
    )
    send_float16: bool = field(
        default=False, metadata={"help": "send the trainable state in float16"}
    )
    run_dir: str = field(default="runs/flwr", metadata={"help": "run directory for 'flwr run'"})
    client_cpus: float = field(
        default=1.0, metadata={"help": "simulation: CPU cores reserved per client"}
    )
    simulation_engine: str = field(
        default="inline",
        metadata={
            "help": "fedrec simulate: 'inline' (the apps in one process, one client at a time "
            "on every core) or 'ray' (Flower's simulation engine, clients in parallel workers)",
            "choices": ("inline", "ray"),
        },
    )
    client_state_dir: str = field(
        default="",
        metadata={"help": "where clients keep their privacy accountant on disk ('' = memory)"},
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "flwr run: continue the run in run-dir from its last checkpoint (after "
            "a SuperLink restart)"
        },
    )

    def __post_init__(self) -> None:
        check_min("num-server-rounds", self.num_server_rounds, 1)
        check_min("num-clients", self.num_clients, 0)
        check_min("clients-per-round", self.clients_per_round, 0)
        check_min("local-epochs", self.local_epochs, 1)
        check_min("min-replies", self.min_replies, 1)
        check_min("server-eval-every", self.server_eval_every, 1)
        check_min("client-eval-every", self.client_eval_every, 0)
        if self.proximal_mu < 0:
            raise ConfigError(f"proximal-mu={self.proximal_mu} must be >= 0.")
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


@dataclass(frozen=True)
class DrillConfig:
    """Fault drills for testing a federation's tolerance; off in every real run."""

    fail_clients: str = field(
        default="", metadata={"help": "partition ids that raise in training (fault drills)"}
    )

    def __post_init__(self) -> None:
        try:
            _ = self.failing
        except ValueError:
            raise ConfigError(
                f"fail-clients={self.fail_clients!r}: give partition ids like '0,3'."
            ) from None

    @property
    def failing(self) -> frozenset[int]:
        """Partition ids whose training raises."""
        return frozenset(int(v) for v in split_list(self.fail_clients))
