"""All of fedrec's Flower glue (Message API, flwr >= 1.41), and nothing else.

The ServerApp parses the run config once, then drives the rounds itself: it
picks the clients of each round (seeded, so a resumed run samples as the
uninterrupted one would), lets the Flower strategy build the messages and do the
aggregation (FedAvg, FedProx or FedAdam), tolerates clients that fail, and hands
everything else to :class:`~fedrec.federated.server.ServerRuntime`. The ClientApp
turns messages into calls on :class:`~fedrec.federated.client.ClientRuntime`.

Only the trainable state travels, in both directions: the ``arrays`` record of
every message is exactly :func:`~fedrec.models.recommender.trainable_state`.
The full flat config rides in each message's ``config`` record, so clients
build exactly the model the server evaluates.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedProx,
    Strategy,
)
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from fedrec.centralized import NOT_PRIVATE
from fedrec.config import Config, build_config
from fedrec.errors import ConfigError
from fedrec.federated.client import client_runtime
from fedrec.federated.server import ServerRuntime
from fedrec.privacy.central import CentralDP
from fedrec.privacy.ledger import PrivacyLedger
from fedrec.rundir import RunDir

log = logging.getLogger(__name__)

# Record keys (kebab-case, defined once).
ARRAYS = "arrays"
CONFIG = "config"
METRICS = "metrics"
NUM_EXAMPLES = "num-examples"
SERVER_ROUND = "server-round"
PROXIMAL_MU = "proximal-mu"
BYTES_RECEIVED = "bytes-received"
BYTES_SENT = "bytes-sent"
PARTITION_ID = "partition-id"
DECLINED = "declined"
PRIVACY_STATE = "fedrec-privacy"
# Per-round values that ride beside the config (Flower's DP wrapper adds the clipping norm).
ROUND_KEYS = (SERVER_ROUND, PROXIMAL_MU, KEY_CLIPPING_NORM)


# -- arrays ------------------------------------------------------------------------------
def to_arrays(state: dict[str, torch.Tensor], float16: bool = False) -> ArrayRecord:
    """A trainable state as an ArrayRecord (optionally halved to float16 for the wire)."""
    dtype = torch.float16 if float16 else torch.float32
    return ArrayRecord(torch_state_dict={k: v.detach().cpu().to(dtype) for k, v in state.items()})


def from_arrays(record: ArrayRecord) -> dict[str, torch.Tensor]:
    """An ArrayRecord back to a float32 trainable state."""
    return {k: v.float() for k, v in record.to_torch_state_dict().items()}


def _config_record(cfg: Config, **extra: Any) -> ConfigRecord:
    return ConfigRecord({**cfg.to_flat(), **extra})


def _flat_from_message(msg: Message) -> tuple[dict[str, Any], dict[str, Any]]:
    record = dict(msg.content[CONFIG])
    round_values = {k: record.pop(k) for k in ROUND_KEYS if k in record}
    return record, round_values


def _partition_id(context: Context) -> int:
    if PARTITION_ID not in context.node_config:
        raise ConfigError(
            "this SuperNode has no 'partition-id' in its node config: start it with "
            "--node-config 'partition-id=N num-partitions=M'."
        )
    return int(context.node_config[PARTITION_ID])


# -- ClientApp ---------------------------------------------------------------------------
def make_client_app() -> ClientApp:
    """The ClientApp: train and evaluate the received global trainable state."""
    app = ClientApp()

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        """Who this node is (the server's map of partition ids for central DP accounting)."""
        return Message(
            RecordDict({METRICS: MetricRecord({PARTITION_ID: _partition_id(context)})}),
            reply_to=msg,
        )

    @app.train(mods=[_central_clipping])
    def train(msg: Message, context: Context) -> Message:
        flat, round_values = _flat_from_message(msg)
        runtime = client_runtime(flat, _partition_id(context))
        received = msg.content[ARRAYS]
        result = runtime.train(
            from_arrays(received),
            int(round_values.get(SERVER_ROUND, 0)),
            proximal_mu=float(round_values.get(PROXIMAL_MU, 0.0)),
            privacy_history=_load_privacy(context, runtime.cfg.federation.client_state_dir),
        )
        if result.privacy_history is not None:
            _save_privacy(context, runtime.cfg.federation.client_state_dir, result.privacy_history)
        metrics = {
            NUM_EXAMPLES: result.num_examples,
            **result.metrics,
            BYTES_RECEIVED: received.count_bytes(),
        }
        if result.state is None:  # declined: nothing leaves but the refusal
            return Message(
                RecordDict({METRICS: MetricRecord({**metrics, BYTES_SENT: 0})}), reply_to=msg
            )
        arrays = to_arrays(result.state, runtime.cfg.federation.send_float16)
        metrics[BYTES_SENT] = arrays.count_bytes()
        return Message(RecordDict({ARRAYS: arrays, METRICS: MetricRecord(metrics)}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        flat, _ = _flat_from_message(msg)
        runtime = client_runtime(flat, _partition_id(context))
        result = runtime.evaluate(from_arrays(msg.content[ARRAYS]))
        metrics = MetricRecord({NUM_EXAMPLES: result.num_examples, **result.metrics})
        return Message(RecordDict({METRICS: metrics}), reply_to=msg)

    return app


def _central_clipping(msg: Message, context: Context, call_next: Any) -> Message:
    """Flower's ``fixedclipping_mod`` when the server asks for client-side clipping."""
    config = msg.content.config_records.get(CONFIG)
    if config is None or KEY_CLIPPING_NORM not in config:
        return call_next(msg, context)
    replies: list[Message] = []

    def keep(m: Message, c: Context) -> Message:
        replies.append(call_next(m, c))
        return replies[-1]

    try:
        return fixedclipping_mod(msg, context, keep)
    except ZeroDivisionError:  # Flower cannot clip an all-zero update; it needs no clipping
        return replies[-1]


def _state_file(context: Context, cfg_dir: str) -> Path | None:
    """Where this node keeps its accountant on disk: node config ``state-dir``, else the
    run's ``client-state-dir``; None keeps it in memory (Context.state) only."""
    base = str(context.node_config.get("state-dir", "") or cfg_dir)
    if not base:
        return None
    return Path(base) / f"partition-{_partition_id(context)}-privacy.json"


def _load_privacy(context: Context, cfg_dir: str) -> list[tuple[float, float, int]] | None:
    """This node's accountant history from earlier rounds: the file survives restarts,
    Context.state survives rounds."""
    path = _state_file(context, cfg_dir)
    if path is not None and path.exists():
        return [tuple(h) for h in json.loads(path.read_text())["accountant"]]
    if PRIVACY_STATE not in context.state:
        return None
    return [tuple(h) for h in json.loads(str(context.state[PRIVACY_STATE]["accountant"]))]


def _save_privacy(context: Context, cfg_dir: str, history: list[tuple[float, float, int]]) -> None:
    context.state[PRIVACY_STATE] = ConfigRecord({"accountant": json.dumps(history)})
    path = _state_file(context, cfg_dir)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"accountant": history}))
        os.replace(tmp, path)


# -- ServerApp ---------------------------------------------------------------------------
def make_server_app(
    flat_config: dict[str, Any] | None = None,
    run_dir: str | None = None,
    *,
    resume: bool = False,
) -> ServerApp:
    """The ServerApp. With no ``flat_config`` it reads ``context.run_config`` (``flwr run``)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        values = flat_config if flat_config is not None else dict(context.run_config)
        cfg = build_config(values)
        run = RunDir(run_dir or cfg.federation.run_dir)
        run_federation(grid, cfg, run, resume=resume)

    return app


def make_strategy(cfg: Config, central: CentralDP | None = None) -> Strategy:
    """The configured Flower strategy; clients are weighted by their example counts.

    Under central DP: Flower's fixed-clipping DP wrapper (client- or server-side
    clipping) around a mean over the expected number of clients."""
    fed = cfg.federation
    if central is not None:
        inner = _ExpectedMean(central.expected_clients)
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


class _ExpectedMean(FedAvg):
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


def _noise_only(strategy: Strategy, arrays: ArrayRecord) -> ArrayRecord:
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


def _moved(reply: Message, sent: list[np.ndarray]) -> bool:
    new = reply.content[ARRAYS].to_numpy_ndarrays()
    return any(not np.array_equal(a, b) for a, b in zip(new, sent, strict=True))


def poisson_select(nodes: Sequence[int], rate: float, seed: int, server_round: int) -> list[int]:
    """Each node independently with probability ``rate`` (seeded by round)."""
    rng = np.random.default_rng((seed, server_round, 1))
    draws = rng.random(len(nodes))
    return [n for n, u in zip(sorted(nodes), draws, strict=True) if u < rate]


def _partition_map(grid: Grid, nodes: Sequence[int]) -> dict[int, int]:
    """Node id → partition id, asked of every node once."""
    queries = [Message(RecordDict(), dst_node_id=n, message_type=MessageType.QUERY) for n in nodes]
    out: dict[int, int] = {}
    for reply in grid.send_and_receive(queries):
        if reply.has_error():
            raise ConfigError(
                f"node {reply.metadata.src_node_id} did not say its partition id: "
                f"{reply.error.reason[-500:]}"
            )
        out[reply.metadata.src_node_id] = int(reply.content[METRICS][PARTITION_ID])
    return out


class _Selected:
    """A view of the grid that offers the strategy only this round's chosen nodes."""

    def __init__(self, grid: Grid, nodes: Sequence[int]) -> None:
        self._grid, self._nodes = grid, list(nodes)

    def get_node_ids(self) -> list[int]:
        return list(self._nodes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)


def _wait_for_nodes(grid: Grid, count: int, timeout: float = 300.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(nodes := sorted(grid.get_node_ids())) < count:
        if time.monotonic() > deadline:
            raise ConfigError(
                f"only {len(nodes)} of num-clients={count} nodes connected within {timeout:.0f}s: "
                "start more SuperNodes or lower num-clients."
            )
        time.sleep(0.5)
    return nodes


def select_nodes(nodes: Sequence[int], per_round: int, seed: int, server_round: int) -> list[int]:
    """This round's clients: all, or a seeded sample of ``per_round`` (same on resume)."""
    if per_round == 0 or per_round >= len(nodes):
        return list(nodes)
    rng = np.random.default_rng((seed, server_round))
    # Pick positions, not ids: node ids are 64-bit and numpy would turn a mix of ids
    # above and below 2**63 into floats.
    chosen = rng.choice(len(nodes), size=per_round, replace=False)
    return sorted(list(nodes)[int(i)] for i in chosen)


def _split_replies(replies: Iterable[Message]) -> tuple[list[Message], list[dict[str, Any]]]:
    ok, failed = [], []
    for reply in replies:
        if reply.has_error():
            # The reason carries the client's traceback; its end says what went wrong.
            reason = str(reply.error.reason)
            failed.append({"node": reply.metadata.src_node_id, "error": reason[-1500:]})
        else:
            ok.append(reply)
    return ok, failed


def _weighted(replies: Sequence[Message], skip: tuple[str, ...] = ()) -> dict[str, float]:
    """Example-weighted mean of every metric the replies share (zero-weight replies skipped)."""
    metrics = [r.content[METRICS] for r in replies]
    weights = np.array([float(m[NUM_EXAMPLES]) for m in metrics])
    if not metrics or weights.sum() <= 0:
        return {}
    keys = set.intersection(*(set(m.keys()) for m in metrics)) - {NUM_EXAMPLES, *skip}
    return {
        k: float(np.average([float(m[k]) for m in metrics], weights=weights)) for k in sorted(keys)
    }


def _ledger_entry(cfg: Config, server_round: int, reply: Message) -> dict[str, Any]:
    m = reply.content[METRICS]
    return {
        "round": server_round,
        "client": int(m[PARTITION_ID]),
        "mode": cfg.privacy.privacy_mode,
        "unit": cfg.train.privacy_unit,
        "noise_multiplier": float(m["noise-multiplier"]),
        "max_grad_norm": float(m["max-grad-norm"]),
        "sample_rate": float(m["sample-rate"]),
        "steps": int(m["steps"]),
        "delta": float(m["delta"]),
        "records": int(m["records"]),
        "epsilon_round": float(m["epsilon-round"]),
        "epsilon": float(m["epsilon"]),
        "epsilon_unsampled": None,
        "accountant": "rdp",
        "trained": not int(m.get(DECLINED, 0)),
    }


def _as_float32(reply: Message) -> Message:
    """Replies sent in float16 are averaged in float32."""
    arrays = reply.content[ARRAYS]
    reply.content[ARRAYS] = ArrayRecord(torch_state_dict=from_arrays(arrays))
    return reply


def run_federation(grid: Grid, cfg: Config, run: RunDir, *, resume: bool = False) -> dict[str, Any]:
    """The round loop: train, aggregate, evaluate, checkpoint; returns the summary."""
    fed = cfg.federation
    if cfg.privacy.privacy_mode == "off":
        log.warning(NOT_PRIVATE + " Client updates leave clients unprotected.")
    run.path.mkdir(parents=True, exist_ok=True)
    server = ServerRuntime(cfg, run)
    state, start_round = server.initial_state(), 0
    point = server.resume_point() if resume else None
    run.write_config(cfg)  # on resume too: it may run longer than first planned
    if point is not None:
        start_round, state = point
        log.info("resuming after round %d", start_round)
    else:
        server.record({"round": 0, **server.evaluate(0, state)})
    nodes = _wait_for_nodes(grid, server.num_clients)
    mode = cfg.privacy.privacy_mode
    central = CentralDP.from_config(cfg, len(nodes)) if mode == "central" else None
    strategy = make_strategy(cfg, central)
    ledger = PrivacyLedger(run.path) if mode != "off" else None
    spends = _CentralSpends(ledger, _partition_map(grid, nodes)) if central and ledger else None
    exhausted: set[int] = set()
    float16 = fed.send_float16
    round_seconds, client_seconds, sent, received = [], [], [], []
    rounds_run = start_round
    for rnd in range(start_round + 1, fed.num_server_rounds + 1):
        t0 = time.perf_counter()
        available = [n for n in nodes if n not in exhausted]
        if not available:
            log.warning(
                "stopping before round %d: every client has spent its privacy budget "
                "(budget-epsilon=%g)",
                rnd,
                cfg.privacy.budget_epsilon,
            )
            break
        if central is not None:
            if (
                cfg.privacy.budget_epsilon
                and central.epsilon(
                    spends.releases + 1  # type: ignore[union-attr]
                )
                > cfg.privacy.budget_epsilon
            ):
                log.warning(
                    "stopping before round %d: its release would take the model past "
                    "budget-epsilon=%g (ε now %.3f)",
                    rnd,
                    cfg.privacy.budget_epsilon,
                    central.epsilon(spends.releases),  # type: ignore[union-attr]
                )
                break
            chosen = poisson_select(available, central.sample_rate, cfg.train.seed, rnd)
        else:
            chosen = select_nodes(available, fed.clients_per_round, cfg.train.seed, rnd)
        arrays = to_arrays(state, float16)
        messages = (
            strategy.configure_train(rnd, arrays, _config_record(cfg), _Selected(grid, chosen))
            if chosen
            else []
        )
        ok, failed = _split_replies(grid.send_and_receive(messages) if messages else [])
        declined = [r for r in ok if int(r.content[METRICS].get(DECLINED, 0))]
        ok = [r for r in ok if not int(r.content[METRICS].get(DECLINED, 0))]
        exhausted.update(r.metadata.src_node_id for r in declined)
        ledger_clients: list[int] = []
        if ledger is not None and central is None:
            for reply in [*ok, *declined]:
                line = _ledger_entry(cfg, rnd, reply)
                ledger.append(line)
                ledger_clients.append(line["client"])
        for failure in failed:
            log.warning(
                "round %d: client on node %s failed: %s", rnd, failure["node"], failure["error"]
            )
        entry: dict[str, Any] = {
            "round": rnd,
            "clients": len(chosen),
            "replies": len(ok),
            "failures": failed,
            "declined": [int(r.content[METRICS][PARTITION_ID]) for r in declined],
        }
        if ledger is not None:
            entry["ledger_clients"] = sorted(ledger_clients)  # what `fedrec audit` expects
        if central is not None:
            # Every round releases a noised aggregate, whoever replied (min-replies does not
            # apply: keeping the old state would reveal that nobody's update arrived).
            # A zero update adds nothing to the sum (and Flower cannot clip it).
            sent_arrays = arrays.to_numpy_ndarrays()
            replies = [r for r in ok if _moved(r, sent_arrays)]
            agg, _ = strategy.aggregate_train(rnd, replies) if replies else (None, None)
            state = from_arrays(agg if agg is not None else _noise_only(strategy, arrays))
            entry["aggregated"] = True
            entry["ledger_clients"] = spends.record(  # type: ignore[union-attr]
                central, rnd, cfg.train.privacy_unit, {r.metadata.src_node_id for r in ok}
            )
            entry["epsilon"] = central.epsilon(spends.releases)  # type: ignore[union-attr]
        elif len(ok) >= fed.min_replies:
            agg, _ = strategy.aggregate_train(rnd, [_as_float32(r) if float16 else r for r in ok])
            if agg is not None:
                state = from_arrays(agg)
            entry["aggregated"] = True
        else:
            log.warning(
                "round %d: %d replies < min-replies=%d; global state kept",
                rnd,
                len(ok),
                fed.min_replies,
            )
            entry["aggregated"] = False
        train_metrics = _weighted(ok, skip=(PARTITION_ID, DECLINED))
        entry.update({k.replace("-", "_"): v for k, v in train_metrics.items()})
        entry["examples"] = int(sum(float(r.content[METRICS][NUM_EXAMPLES]) for r in ok))
        sent += [float(r.content[METRICS][BYTES_SENT]) for r in ok]
        received += [float(r.content[METRICS][BYTES_RECEIVED]) for r in ok]
        eval_msgs = (
            strategy.configure_evaluate(
                rnd, to_arrays(state, float16), _config_record(cfg), _Selected(grid, chosen)
            )
            if chosen
            else []
        )
        eval_ok, eval_failed = _split_replies(grid.send_and_receive(eval_msgs) if eval_msgs else [])
        entry.update({"fed_" + k.replace("-", "_"): v for k, v in _weighted(eval_ok).items()})
        entry["eval_failures"] = eval_failed
        wall = time.perf_counter() - t0
        busy = sum(float(r.content[METRICS].get("train-seconds", 0.0)) for r in ok)
        busy += sum(float(r.content[METRICS].get("eval-seconds", 0.0)) for r in eval_ok)
        t_eval = time.perf_counter()
        entry.update(server.evaluate(rnd, state))
        entry["server_eval_seconds"] = time.perf_counter() - t_eval
        entry["round_seconds"] = wall
        entry["client_seconds"] = busy
        round_seconds.append(wall)
        client_seconds.append(busy)
        server.record(entry)
        server.checkpoint(rnd, state)
        rounds_run = rnd
        log.info(
            "round %d: %d/%d clients, val ndcg %.4f, %.1fs",
            rnd,
            len(ok),
            len(chosen),
            entry.get(f"val_ndcg@{cfg.eval.k}", float("nan")),
            wall,
        )
    federation = {
        "rounds": rounds_run,
        "strategy": fed.strategy,
        "partition": fed.partition,
        "clients_per_round": fed.clients_per_round or server.num_clients,
        "bytes_sent_per_client_round": float(np.mean(sent)) if sent else 0.0,
        "bytes_received_per_client_round": float(np.mean(received)) if received else 0.0,
        "round_seconds_mean": float(np.mean(round_seconds)) if round_seconds else 0.0,
        "client_seconds_mean": float(np.mean(client_seconds)) if client_seconds else 0.0,
    }
    return server.finish(state, federation)


class _CentralSpends:
    """Central DP's running counts (releases, and rounds each client was in), restored
    from the ledger on resume, and the ledger lines of each release."""

    def __init__(self, ledger: PrivacyLedger, partitions: dict[int, int]) -> None:
        self.ledger, self.partitions = ledger, partitions
        lines = ledger.read()
        self.releases = max(
            (sum(1 for e in lines if e["client"] == c) for c in partitions.values()), default=0
        )
        self.participations = {
            c: sum(1 for e in lines if e["client"] == c and e["trained"])
            for c in partitions.values()
        }

    def record(self, dp: CentralDP, rnd: int, unit: str, trained_nodes: set[int]) -> list[int]:
        self.releases += 1
        clients = []
        for node, client in sorted(self.partitions.items(), key=lambda x: x[1]):
            trained = node in trained_nodes
            self.participations[client] += int(trained)
            self.ledger.append(
                dp.ledger_entry(
                    rnd, client, unit, self.releases, self.participations[client], trained
                )
            )
            clients.append(client)
        return clients


# -- simulation --------------------------------------------------------------------------
def simulate(cfg: Config, run: RunDir, *, resume: bool = False) -> dict[str, Any]:
    """Run the ServerApp and ClientApp in Flower's simulation engine; return the summary.

    The number of virtual SuperNodes is the partition's client count; impossible
    configurations fail here, before any engine starts.
    """
    import os

    from flwr.simulation import run_simulation

    from fedrec.centralized import prepare_split
    from fedrec.federated.partition import check_partition

    n_clients = check_partition(
        prepare_split(cfg), cfg.federation.partition, cfg.federation.num_clients
    )
    cores = os.cpu_count() or 1
    gpus = 1.0 / min(n_clients, 4) if torch.cuda.is_available() else 0.0
    backend = {
        "client_resources": {"num_cpus": cfg.federation.client_cpus, "num_gpus": gpus},
        "init_args": {"num_cpus": cores, "logging_level": "ERROR", "log_to_driver": False},
    }
    run.path.mkdir(parents=True, exist_ok=True)
    flat = cfg.to_flat()
    if not flat["client-state-dir"]:
        # Simulated nodes share this machine: keep their accountants where a resumed
        # run (a new process) finds them again.
        flat["client-state-dir"] = str((run.path / "client-state").resolve())
    run_simulation(
        server_app=make_server_app(flat, str(run.path), resume=resume),
        client_app=make_client_app(),
        num_supernodes=n_clients,
        backend_config=backend,
    )
    return run.read_summary()
