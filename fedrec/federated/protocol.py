"""What the round loop needs from a federation, and what travels in it, without Flower.

The server's round loop (:mod:`fedrec.federated.rounds`) talks to the clients
through a :class:`Federation`: it waits for nodes, sends the global trainable
state to the nodes it picked, and gets back :class:`TrainReply` and
:class:`EvalReply` values (or a :class:`Failure`). :mod:`fedrec.federated.flower`
implements it over Flower's Grid and Messages; tests can implement it in a few
lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # kept out of imports: a node's light messages need none of them
    import torch

    from fedrec.privacy.central import CentralDP
    from fedrec.privacy.ledger import PrivacySpend
    from fedrec.privacy.mechanism import LocalMechanism

State = dict[str, "torch.Tensor"]


@dataclass(frozen=True)
class TrainResult:
    """What one client's training round produced (the client keeps ``privacy_history``)."""

    partition: int
    state: State | None  # the new trainable state; None: the client declined (budget)
    num_examples: int
    train_loss: float
    train_seconds: float
    spend: PrivacySpend | None = None  # local DP: this round's mechanism and ε
    privacy_history: list[tuple[float, float, int]] | None = field(default=None, repr=False)
    masked: bool = False  # the update went into a secure sum (``state`` is empty)

    @property
    def declined(self) -> bool:
        return self.state is None

    def report(self) -> dict[str, float]:
        """The numbers the server logs for this reply (averaged over replies per round)."""
        out = {"train_loss": self.train_loss, "train_seconds": self.train_seconds}
        if self.spend is not None:
            out.update(self.spend.report())
        return out


@dataclass(frozen=True)
class EvalResult:
    """One client's evaluation of a global state on its own validation cases."""

    num_examples: int
    metrics: dict[str, float]  # e.g. val_ndcg@10, val_hr@10
    eval_seconds: float


@dataclass(frozen=True)
class TrainReply:
    node: int
    result: TrainResult
    bytes_sent: int  # by the client (its update)
    bytes_received: int  # by the client (the global state)


@dataclass(frozen=True)
class EvalReply:
    node: int
    result: EvalResult


@dataclass(frozen=True)
class Failure:
    node: int
    error: str  # the end of the client's error (its traceback's last lines)


@dataclass(frozen=True)
class Histograms:
    """The clients' popularity histograms, summed (the server needs nothing else of them;
    under secure aggregation it never sees one alone)."""

    total: np.ndarray | None  # the sum; None: no client sent one
    sent: list[int]  # the partition ids in the sum
    declined: list[int]  # local DP: partition ids over their budget
    failures: list[Failure]


class Federation(Protocol):
    """The server's view of its clients."""

    #: How many clients train at once (a simulation's workers); None: every sampled one
    #: (each on its own node).
    workers: int | None

    def connect(self, count: int) -> list[int]:
        """Wait until ``count`` nodes are connected; their ids."""
        ...

    def begin(self, central: CentralDP | None, local: LocalMechanism | None) -> None:
        """Set up the run: aggregation (plain, or DP-FedAvg with ``central``'s noise and
        clipping), and under local DP the public mechanism every client is asked to use."""
        ...

    def partitions(self, nodes: Sequence[int]) -> dict[int, int]:
        """Node id → its partition (client) id."""
        ...

    def histograms(self, nodes: Sequence[int]) -> Histograms:
        """The sum of the nodes' popularity histograms, and who is in it."""
        ...

    def train(
        self, server_round: int, state: State, nodes: Sequence[int]
    ) -> tuple[list[TrainReply], list[Failure]]:
        """Send ``state`` to ``nodes`` for a round of training."""
        ...

    def aggregate(self, server_round: int, replies: Sequence[TrainReply]) -> State | None:
        """The strategy's new global state from this round's replies (None: no change)."""
        ...

    def noise_only(self, state: State) -> State:
        """Central DP: ``state`` with the round's noise and no update (nobody sampled)."""
        ...

    def evaluate(
        self, server_round: int, state: State, nodes: Sequence[int]
    ) -> tuple[list[EvalReply], list[Failure]]:
        """Ask ``nodes`` to evaluate ``state`` on their own validation cases."""
        ...
