"""The ServerApp, and :class:`FlowerFederation`: the round loop's clients over a Flower Grid.

The ServerApp parses the run config once and hands the rounds to the
Flower-free :class:`~fedrec.federated.rounds.RoundLoop`. The loop reaches the
clients through :class:`FlowerFederation`, which lets the Flower strategy build
each round's messages and aggregate the replies (FedAvg, FedProx or FedAdam,
or DP-FedAvg under central DP), and turns replies into fedrec's values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from fedrec.config import Config, build_config
from fedrec.errors import ConfigError
from fedrec.federated.flower.records import (
    ARRAYS,
    BYTES_RECEIVED,
    BYTES_SENT,
    CONFIG,
    DECLINED,
    DP_MECHANISM,
    METRICS,
    PARTITION_ID,
    POPULARITY,
    REQUEST,
    SERVER_ROUND,
    config_record,
    from_arrays,
    read_eval_reply,
    read_popularity_reply,
    read_train_reply,
    to_arrays,
)
from fedrec.federated.flower.secure_aggregation import SecureRound, secure_sum
from fedrec.federated.flower.strategy import make_strategy, noise_only
from fedrec.federated.protocol import (
    EvalReply,
    Failure,
    Histograms,
    State,
    TrainReply,
    TrainResult,
)
from fedrec.federated.rounds import run_federation
from fedrec.privacy.central import CentralDP
from fedrec.privacy.mechanism import LocalMechanism
from fedrec.runs.rundir import RunDir
from fedrec.runs.summary import closing_sentence

log = logging.getLogger(__name__)


def make_server_app(
    flat_config: dict[str, Any] | None = None,
    run_dir: str | None = None,
    *,
    resume: bool = False,
    workers: int | None = None,
) -> ServerApp:
    """The ServerApp. With no ``flat_config`` it reads ``context.run_config`` (``flwr run``).
    ``workers``: how many clients train at once (a simulation's); None, one per node."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        values = flat_config if flat_config is not None else dict(context.run_config)
        cfg = build_config(values)
        run = RunDir(run_dir or cfg.federation.run_dir)
        summary = run_federation(
            FlowerFederation(grid, cfg, workers=workers),
            cfg,
            run,
            resume=resume or cfg.federation.resume,
        )
        if flat_config is None:  # `flwr run`: its streamed log ends with what the run gave
            print(closing_sentence(summary, cfg.eval.k), flush=True)

    return app


class FlowerFederation:
    """:class:`~fedrec.federated.protocol.Federation` over a Flower Grid and strategy."""

    def __init__(
        self, grid: Grid, cfg: Config, wait_seconds: float = 300.0, workers: int | None = None
    ) -> None:
        self.grid, self.cfg, self.wait_seconds = grid, cfg, wait_seconds
        self.workers = workers
        self.float16 = cfg.federation.send_float16
        self.strategy: Any = None
        self.central: CentralDP | None = None
        self.round_values: dict[str, str] = {}
        self._replies: dict[int, Message] = {}
        self._secure: tuple[State, list[np.ndarray] | None] | None = None  # sent, sum

    def connect(self, count: int) -> list[int]:
        deadline = time.monotonic() + self.wait_seconds
        while len(nodes := sorted(self.grid.get_node_ids())) < count:
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"only {len(nodes)} of num-clients={count} nodes connected within "
                    f"{self.wait_seconds:.0f}s: start more SuperNodes or lower num-clients."
                )
            time.sleep(0.5)
        return nodes

    def begin(self, central: CentralDP | None, local: LocalMechanism | None) -> None:
        self.strategy = make_strategy(self.cfg, central)
        self.central = central
        self.round_values = {DP_MECHANISM: local.to_json()} if local is not None else {}

    def partitions(self, nodes: Sequence[int]) -> dict[int, int]:
        """Node id → partition id, asked of every node once."""
        queries = [
            Message(RecordDict(), dst_node_id=n, message_type=MessageType.QUERY) for n in nodes
        ]
        out: dict[int, int] = {}
        for reply in self.grid.send_and_receive(queries):
            if reply.has_error():
                raise ConfigError(
                    f"node {reply.metadata.src_node_id} did not say its partition id: "
                    f"{reply.error.reason[-500:]}"
                )
            out[reply.metadata.src_node_id] = int(reply.content[METRICS][PARTITION_ID])
        return out

    def histograms(self, nodes: Sequence[int]) -> Histograms:
        config = config_record(self.cfg, **self.round_values, **{REQUEST: POPULARITY})
        if self.cfg.privacy.secure_aggregation:
            got = secure_sum(self.grid, 0, nodes, ArrayRecord(), config, clipping_range=1.0)
            total = None if got.total is None else got.total[0]
            sent = [int(m[PARTITION_ID]) for m in got.metrics.values()]
            return Histograms(total, sent, [], _secure_failures(got, nodes))
        queries = [
            Message(RecordDict({CONFIG: config}), dst_node_id=n, message_type=MessageType.QUERY)
            for n in nodes
        ]
        ok, failed = _split_replies(self.grid.send_and_receive(queries))
        replies = [read_popularity_reply(m) for m in ok]
        counts = [c for _, c in replies if c is not None]
        return Histograms(
            np.sum(counts, axis=0) if counts else None,
            [p for p, c in replies if c is not None],
            [p for p, c in replies if c is None],
            failed,
        )

    def train(
        self, server_round: int, state: State, nodes: Sequence[int]
    ) -> tuple[list[TrainReply], list[Failure]]:
        if self.cfg.privacy.secure_aggregation:
            return self._secure_train(server_round, state, nodes)
        ok, failed = self._send(self.strategy.configure_train, server_round, state, nodes)
        self._replies = {r.metadata.src_node_id: r for r in ok}
        replies = []
        for message in ok:
            result, sent, received = read_train_reply(message)
            replies.append(TrainReply(message.metadata.src_node_id, result, sent, received))
        return replies, failed

    def _secure_train(
        self, server_round: int, state: State, nodes: Sequence[int]
    ) -> tuple[list[TrainReply], list[Failure]]:
        """The round through SecAgg+: per node only whether it sent; the sum kept."""
        self._secure = None
        if len(nodes) < 2:  # one update alone cannot hide in a sum: the round is noise only
            log.warning(
                "round %d: %d client(s) sampled; secure aggregation needs 2 or more, so this "
                "round releases noise only",
                server_round,
                len(nodes),
            )
            return [], []
        config = config_record(self.cfg, **self.round_values, **{SERVER_ROUND: server_round})
        got = secure_sum(
            self.grid,
            server_round,
            nodes,
            to_arrays(state),
            config,
            clipping_range=self.cfg.privacy.max_grad_norm,
        )
        self._secure = (state, got.total)
        replies = []
        for node, m in got.metrics.items():
            declined = bool(int(m[DECLINED]))
            result = TrainResult(
                int(m[PARTITION_ID]),
                None if declined else {},
                1,
                float("nan"),
                float("nan"),
                masked=not declined,
            )
            replies.append(TrainReply(node, result, int(m[BYTES_SENT]), int(m[BYTES_RECEIVED])))
        return replies, _secure_failures(got, nodes)

    def aggregate(self, server_round: int, replies: Sequence[TrainReply]) -> State | None:
        if self._secure is not None:  # global + sum / expected, then the DP wrapper's noise
            sent, total = self._secure
            if total is None or self.central is None:
                return None
            expected = self.central.expected_clients
            mean = {
                k: v + torch.as_tensor(t / expected, dtype=torch.float32)
                for (k, v), t in zip(sent.items(), total, strict=True)
            }
            return self.noise_only(mean)
        messages = [self._replies[r.node] for r in replies]
        if self.float16:  # replies sent in float16 are averaged in float32
            messages = [_as_float32(m) for m in messages]
        agg, _ = self.strategy.aggregate_train(server_round, messages)
        return None if agg is None else from_arrays(agg)

    def noise_only(self, state: State) -> State:
        return from_arrays(noise_only(self.strategy, to_arrays(state)))

    def evaluate(
        self, server_round: int, state: State, nodes: Sequence[int]
    ) -> tuple[list[EvalReply], list[Failure]]:
        ok, failed = self._send(self.strategy.configure_evaluate, server_round, state, nodes)
        return [EvalReply(m.metadata.src_node_id, read_eval_reply(m)) for m in ok], failed

    def _send(
        self, configure: Any, server_round: int, state: State, nodes: Sequence[int]
    ) -> tuple[list[Message], list[Failure]]:
        """The strategy's messages for ``nodes``, sent; the replies split from the failures."""
        arrays = to_arrays(state, self.float16)
        messages = configure(
            server_round,
            arrays,
            config_record(self.cfg, **self.round_values),
            _Selected(self.grid, nodes),
        )
        return _split_replies(self.grid.send_and_receive(messages))


class _Selected:
    """A view of the grid that offers the strategy only this round's chosen nodes."""

    def __init__(self, grid: Grid, nodes: Sequence[int]) -> None:
        self._grid, self._nodes = grid, list(nodes)

    def get_node_ids(self) -> list[int]:
        return list(self._nodes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)


def _split_replies(replies: Iterable[Message]) -> tuple[list[Message], list[Failure]]:
    ok, failed = [], []
    for reply in replies:
        if reply.has_error():
            # The reason carries the client's traceback; its end says what went wrong.
            failed.append(Failure(reply.metadata.src_node_id, str(reply.error.reason)[-1500:]))
        else:
            ok.append(reply)
    return ok, failed


def _secure_failures(got: SecureRound, nodes: Sequence[int]) -> list[Failure]:
    """A failure for each node that did not finish the secure sum."""
    reasons = "; ".join(f.error for f in got.failures)[-1500:] or (
        "the protocol halted: too few nodes finished it" if got.total is None else "no reply"
    )
    return [
        Failure(n, f"dropped out of secure aggregation: {reasons}")
        for n in nodes
        if n not in got.metrics
    ]


def _as_float32(reply: Message) -> Message:
    reply.content[ARRAYS] = ArrayRecord(torch_state_dict=from_arrays(reply.content[ARRAYS]))
    return reply
