"""The ClientApp: Flower messages in, calls on the Flower-free client runtime, replies out.

Everything the server sends is untrusted input. A node's privacy policy is its
own (:class:`~fedrec.privacy.policy.NodePolicy`: node config keys, or the
policy ``fedrec simulate`` gives its simulated nodes), and a request for weaker
privacy is refused with an error in the reply. A node's privacy accountant
persists across rounds in its Context.state and, where it has a state
directory (node config ``state-dir``, or the app's ``state_dir`` in
simulation; never a directory the server names), in a file that survives
restarts (:mod:`fedrec.federated.client_state`). A node that reads its own data
(node config ``data-dir``) refuses local DP without a state directory: a restart
would forget what it spent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from fedrec.config import Config
from fedrec.errors import ConfigError
from fedrec.federated.drills import run_drills
from fedrec.federated.flower.records import (
    ARRAYS,
    CONFIG,
    DP_MECHANISM,
    METRICS,
    PARTITION_ID,
    POPULARITY,
    PRIVACY_STATE,
    PROXIMAL_MU,
    REQUEST,
    SERVER_ROUND,
    eval_reply,
    from_arrays,
    popularity_reply,
    read_config,
    train_reply,
)
from fedrec.federated.flower.secure_aggregation import masked, secure_aggregation_mod
from fedrec.federated.protocol import TrainResult

# Every message is a fresh process on a SuperNode: the modules below (PyTorch, the model,
# Opacus) load in the handlers that need them, so the messages that need none (a
# partition id, SecAgg+'s key exchanges) start in a second, not in several.
if TYPE_CHECKING:
    import torch

    from fedrec.federated.client_state import History
    from fedrec.federated.sources import ClientSource
    from fedrec.privacy.mechanism import LocalMechanism
    from fedrec.privacy.policy import NodePolicy

#: Node config key naming a SuperNode's own data directory (``fedrec data partition``).
DATA_DIR = "data-dir"
#: Node config key naming a SuperNode's own state directory. Only such a node keeps its
#: last releases (a simulation of thousands of clients would keep thousands of updates).
STATE_DIR = "state-dir"


def partition_id(context: Context) -> int:
    """This node's partition id: node config ``partition-id``, else its data-dir's."""
    if PARTITION_ID in context.node_config:
        return int(context.node_config[PARTITION_ID])
    if DATA_DIR in context.node_config:
        from fedrec.federated.node_data import node_partition_id

        return node_partition_id(str(context.node_config[DATA_DIR]))
    raise ConfigError(
        "this SuperNode has neither 'data-dir' nor 'partition-id' in its node config: start "
        "it with --node-config \"data-dir='/path/to/node-0' state-dir='/path/to/state'\"."
    )


def _source(context: Context, source: ClientSource | None) -> ClientSource | None:
    """Where this node's data comes from: its own directory when its node config names
    one (deployment), else the app's source (simulation)."""
    if DATA_DIR in context.node_config:
        from fedrec.federated.node_data import NodeDirSource

        return NodeDirSource(str(context.node_config[DATA_DIR]))
    return source


def _runtime(cfg: Config, context: Context, source: ClientSource | None) -> Any:
    """This node's client runtime (PyTorch and the model load here, on first use)."""
    from fedrec.federated.client import client_runtime

    return client_runtime(cfg, partition_id(context), _source(context, source))


def make_client_app(
    state_dir: str | Path | None = None,
    policy: NodePolicy | None = None,
    source: ClientSource | None = None,
) -> ClientApp:
    """The ClientApp: train and evaluate the received global trainable state.

    ``state_dir`` is where simulated nodes keep their accountants and ``policy`` their
    privacy policy (a SuperNode names its own with node config keys); ``source`` where
    clients' data comes from (default: the global split, cut per partition)."""
    app = ClientApp()

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        """Who this node is (the server's map of partition ids for central DP accounting),
        or, asked with a config, this node's popularity histogram."""
        if CONFIG not in msg.content.config_records:
            return Message(
                RecordDict({METRICS: MetricRecord({PARTITION_ID: partition_id(context)})}),
                reply_to=msg,
            )
        cfg, mechanism, node = _checked_request(msg, context, policy)
        path = _state_path(context, state_dir)
        _require_state_dir(cfg, context, path)
        pid = partition_id(context)
        released = _released(path, pid, "popularity", mechanism, 0)
        if released is not None:  # asked again: the same histogram, no new spend
            return popularity_reply(msg, pid, released[POPULARITY].numpy())
        counts, history = _runtime(cfg, context, source).popularity(
            mechanism, _load_privacy(context, path), node.budget
        )
        if history is not None:
            _save_privacy(context, path, history)  # the spend first
            if counts is not None and STATE_DIR in context.node_config:
                _keep(path, pid, "popularity", mechanism, 0, {POPULARITY: counts})
        return popularity_reply(msg, pid, counts)

    @app.train(mods=[secure_aggregation_mod, central_clipping])
    def train(msg: Message, context: Context) -> Message:
        cfg, round_values = read_config(msg)
        if round_values.get(REQUEST) == POPULARITY:  # asked through SecAgg+ (train messages)
            return query(msg, context)
        pid = partition_id(context)
        run_drills(cfg, pid)
        cfg, mechanism, node = _checked_request(msg, context, policy)
        state = _global_state(msg)
        local = cfg.privacy.privacy_mode == "local"
        path = _state_path(context, state_dir)
        _require_state_dir(cfg, context, path)
        server_round = int(round_values.get(SERVER_ROUND, 0))
        sent = _released(path, pid, "reply", mechanism, server_round)
        if sent is not None:  # asked again for a round it answered: no training, no spend
            result = TrainResult(pid, sent, num_examples=1, train_loss=0.0, train_seconds=0.0)
            return train_reply(msg, result, cfg.federation.send_float16, local_dp=local)
        result = _runtime(cfg, context, source).train(
            state,
            server_round,
            proximal_mu=float(round_values.get(PROXIMAL_MU, 0.0)),
            privacy_history=_load_privacy(context, path),
            mechanism=mechanism,
            budget=node.budget,
        )
        if result.privacy_history is not None:
            _save_privacy(context, path, result.privacy_history)  # the spend first
            if result.state is not None and STATE_DIR in context.node_config:
                _keep(path, pid, "reply", mechanism, server_round, result.state)
        return train_reply(msg, result, cfg.federation.send_float16, local_dp=local)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        cfg, _ = read_config(msg)
        _node_policy(context, policy, cfg).check_evaluation()  # no exact metrics under DP
        runtime = _runtime(cfg, context, source)
        return eval_reply(msg, runtime.evaluate(_global_state(msg)))

    return app


def central_clipping(msg: Message, context: Context, call_next: Any) -> Message:
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


def _checked_request(
    msg: Message, context: Context, app_policy: NodePolicy | None
) -> tuple[Config, LocalMechanism | None, NodePolicy]:
    """The request's config and mechanism, refused when weaker than this node's policy;
    the mechanism with the node's choice of noise source."""
    from fedrec.privacy.mechanism import LocalMechanism

    cfg, round_values = read_config(msg)
    node = _node_policy(context, app_policy, cfg)
    mechanism = None
    if DP_MECHANISM in round_values:
        mechanism = LocalMechanism.from_json(str(round_values[DP_MECHANISM]))
    node.check(cfg, mechanism, masked())  # refuses a request weaker than this node's policy
    if mechanism is not None:
        mechanism = dataclasses.replace(mechanism, randomness=node.randomness(mechanism))
    return cfg, mechanism, node


def _global_state(msg: Message) -> dict[str, torch.Tensor]:
    """The global state a message carries, refused if any value is NaN or inf: no honest
    aggregate holds one, and one that turns into a NaN only on some data would tell the
    server, through the reply, whether that data was there."""
    import torch

    state = from_arrays(msg.content[ARRAYS])
    for name, value in state.items():
        if not bool(torch.isfinite(value).all()):
            raise ConfigError(
                f"the server sent a global state whose {name!r} holds NaN or inf values. "
                "Refused: nothing was trained or evaluated."
            )
    return state


def _released(
    path: Path | None, pid: int, kind: str, mechanism: LocalMechanism | None, server_round: int
) -> dict[str, torch.Tensor] | None:
    """What this node already released for this run and round (``kind``: its update or its
    popularity histogram), if it did: a message delivered again after a crash, or a run
    resumed after a SuperLink restart, gets it back rather than a second release."""
    from fedrec.federated.client_state import reply_file, saved_reply

    if path is None or mechanism is None:
        return None
    return saved_reply(reply_file(path.parent, pid, kind), mechanism.run_id, server_round)


def _keep(
    path: Path | None,
    pid: int,
    kind: str,
    mechanism: LocalMechanism | None,
    server_round: int,
    tensors: dict[str, Any],
) -> None:
    """Keep a release (after its spend is saved) for :func:`_released`: tensors or arrays."""
    import torch

    from fedrec.federated.client_state import reply_file, save_reply

    tensors = {k: torch.as_tensor(v) for k, v in tensors.items()}

    if path is not None and mechanism is not None and mechanism.run_id:
        save_reply(reply_file(path.parent, pid, kind), mechanism.run_id, server_round, tensors)


def _require_state_dir(cfg: Config, context: Context, path: Path | None) -> None:
    if cfg.privacy.privacy_mode == "local" and path is None and DATA_DIR in context.node_config:
        raise ConfigError(
            "local DP needs a persistent state directory, or a restart would forget "
            "this node's spent ε: start the SuperNode with --node-config "
            "\"state-dir='/path/to/state'\"."
        )


def _node_policy(context: Context, app_policy: NodePolicy | None, cfg: Config) -> NodePolicy:
    """This node's policy: its node config's keys, the app's (simulation), the default
    policy for a node with data of its own, or (a simulated node of ``flwr run``, where the
    operator runs every node) the run config's."""
    from fedrec.privacy.policy import NodePolicy

    named = NodePolicy.from_node_config(context.node_config)
    if named is not None:
        return named
    if app_policy is not None:
        return app_policy
    if DATA_DIR in context.node_config:
        return NodePolicy()
    return NodePolicy.from_config(cfg)


def _state_path(context: Context, state_dir: str | Path | None) -> Path | None:
    """This node's accountant file: node config ``state-dir`` or the app's ``state_dir``;
    None keeps it in memory (Context.state) only."""
    from fedrec.federated.client_state import state_file

    base = str(context.node_config.get(STATE_DIR, "") or state_dir or "")
    return state_file(base, partition_id(context)) if base else None


def _load_privacy(context: Context, path: Path | None) -> History | None:
    """This node's accountant history from earlier rounds: the file survives restarts,
    Context.state survives rounds."""
    from fedrec.federated.client_state import load_history

    if path is not None and (saved := load_history(path)) is not None:
        return saved
    if PRIVACY_STATE not in context.state:
        return None
    return [tuple(h) for h in json.loads(str(context.state[PRIVACY_STATE]["accountant"]))]  # type: ignore[misc]


def _save_privacy(context: Context, path: Path | None, history: History) -> None:
    from fedrec.federated.client_state import save_history

    context.state[PRIVACY_STATE] = ConfigRecord({"accountant": json.dumps(history)})
    if path is not None:
        save_history(path, history)
