"""Flower's SecAgg+ under central DP: the server learns the sum of the clipped updates only.

With ``secure-aggregation = true`` each round's training (and the popularity
histogram before round 1) runs as Flower's :class:`SecAggPlusWorkflow` over the
nodes fedrec's round loop sampled (Poisson, OS randomness). The workflow is
Flower's legacy API; here it runs one round at a time on a
:class:`LegacyContext` whose strategy is :class:`_Chosen`, an adapter that
hands the workflow fedrec's chosen nodes and the global state, and takes back
the unmasked result. Every other message (queries, evaluation) stays on the
Message API; the apps are the same ServerApp and ClientApp.

On a node, :func:`secure_aggregation_mod` runs Flower's ``secaggplus_mod``
around fedrec's own train handler: the handler trains as under plain central
DP; the bridge below turns its reply into the vector that is masked (the update
``new - global`` clipped to ``max-grad-norm``, or the histogram, already
clipped to norm 1) with weight 1, and drops everything else the server would
see of it but the partition id and whether it declined. Each coordinate of a
clipped vector lies within ``[-C, C]``, Flower's quantization range.

What the server sees: the masked vectors and, after the unmask stage, their
sum, to which it adds the Gaussian noise as in DP-FedAvg (so the ε is against
observers of the released models, as without secure aggregation; the server
itself sees the noiseless sum of at least two clients).
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.common import (
    Code,
    FitIns,
    FitRes,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from flwr.compat.common import recorddict_compat as compat
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.server.workflow.secure_aggregation.secaggplus_workflow import SecAggPlusWorkflow

from fedrec.errors import ConfigError
from fedrec.federated.flower.records import (
    ARRAYS,
    BYTES_RECEIVED,
    BYTES_SENT,
    CONFIG,
    DECLINED,
    METRICS,
    PARTITION_ID,
    POPULARITY,
    REQUEST,
    read_config,
)
from fedrec.federated.protocol import Failure

#: Round value naming the arrays' keys, in order (legacy parameters carry no names).
STATE_KEYS = "state-keys"
#: Most clients in one secure sum: each adds up to 2^22 quantization levels under a
#: 2^32 modulus.
MAX_CLIENTS = 1_000
QUANTIZATION_RANGE = 2**22
MODULUS_RANGE = 2**32
#: Set while fedrec's train handler runs inside ``secaggplus_mod``: what it returns
#: leaves the node masked. A server cannot set it (it is this process's own state).
_MASKED: contextvars.ContextVar[bool] = contextvars.ContextVar("fedrec_masked", default=False)


def masked() -> bool:
    """Whether the reply being built will leave this node masked (SecAgg+)."""
    return _MASKED.get()


# -- server ------------------------------------------------------------------------------
@dataclass
class SecureRound:
    """One secure sum: each node's plain metrics, the failures, and the unmasked sum
    (None when the protocol halted: too few nodes or too many dropped out)."""

    metrics: dict[int, dict[str, Any]]
    failures: list[Failure]
    total: list[np.ndarray] | None


class _Node:
    """What the workflow needs of a legacy ClientProxy: the node id."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id


class _Chosen:
    """The legacy strategy the workflow calls: fedrec's chosen nodes, one FitIns; it
    keeps the results, whose parameters are all the unmasked mean."""

    def __init__(self, nodes: Sequence[int], fitins: FitIns) -> None:
        self.nodes, self.fitins = list(nodes), fitins
        self.results: list[tuple[_Node, FitRes]] = []
        self.failures: list[BaseException] = []

    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> list:
        return [(_Node(n), self.fitins) for n in self.nodes]

    def aggregate_fit(self, server_round: int, results: list, failures: list) -> tuple:
        self.results, self.failures = list(results), list(failures)
        return None, {}


def secure_sum(
    grid: Any,
    server_round: int,
    nodes: Sequence[int],
    arrays: ArrayRecord,
    config: ConfigRecord,
    clipping_range: float,
    timeout: float | None = None,
) -> SecureRound:
    """Send ``arrays`` and ``config`` to ``nodes`` through SecAgg+; the sum of the vectors
    their nodes mask (each coordinate within ``clipping_range``)."""
    if len(nodes) > MAX_CLIENTS:
        raise ConfigError(
            f"{len(nodes)} clients in one secure sum; SecAgg+ here sums at most "
            f"{MAX_CLIENTS}: lower clients-per-round."
        )
    fitins = FitIns(
        ndarrays_to_parameters(arrays.to_numpy_ndarrays()),
        {**dict(config), STATE_KEYS: json.dumps(list(arrays.keys()))},
    )
    chosen = _Chosen(nodes, fitins)
    state = RecordDict()
    state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {WorkflowKey.CURRENT_ROUND: server_round}
    )
    state.array_records[MAIN_PARAMS_RECORD] = ArrayRecord()
    context = LegacyContext(
        Context(run_id=0, node_id=0, node_config={}, state=state, run_config={}),
        strategy=chosen,  # type: ignore[arg-type]
    )
    workflow = SecAggPlusWorkflow(
        num_shares=1.0,  # every sampled node shares its keys with every other
        reconstruction_threshold=len(nodes) // 2 + 1,  # a majority unmasks
        clipping_range=float(clipping_range),
        quantization_range=QUANTIZATION_RANGE,
        modulus_range=MODULUS_RANGE,
        max_weight=1.0,
        timeout=timeout,
    )
    workflow(grid, context)
    metrics = {proxy.node_id: dict(res.metrics) for proxy, res in chosen.results}
    failures = [Failure(-1, str(f)[-1500:]) for f in chosen.failures]
    total = None
    if chosen.results:
        if any(res.num_examples != 1 for _, res in chosen.results):
            raise ValueError("a secure-sum reply weighed other than 1: not fedrec's client")
        mean = parameters_to_ndarrays(chosen.results[0][1].parameters)
        total = [m * len(chosen.results) for m in mean]
    return SecureRound(metrics, failures, total)


# -- client ------------------------------------------------------------------------------
def secure_aggregation_mod(msg: Message, context: Context, call_next: Any) -> Message:
    """Flower's ``secaggplus_mod`` around fedrec's train handler, for SecAgg+ messages;
    every other message passes through."""
    if RECORD_KEY_CONFIGS not in msg.content.config_records:
        return call_next(msg, context)
    _check_stage(msg)

    def masked_train(inner: Message, ctx: Context) -> Message:
        return _bridge(inner, ctx, call_next)

    return secaggplus_mod(msg, context, masked_train)


def _check_stage(msg: Message) -> None:
    """Refuse what would let the server unmask this node's vector alone: protocol
    settings with fewer than 2 nodes or a threshold not above half the shares, or an
    unmask request that names one node both alive (asking for its mask seed's share)
    and dropped (asking for its key's share). Flower's SecAgg+ is the semi-honest
    protocol; these are the checks a node can make on its own."""
    configs = msg.content.config_records[RECORD_KEY_CONFIGS]
    stage = configs.get(Key.STAGE)
    if stage == Stage.SETUP:
        samples, shares = int(configs[Key.SAMPLE_NUMBER]), int(configs[Key.SHARE_NUMBER])
        threshold = int(configs[Key.THRESHOLD])
        if samples < 2 or shares < 2 or 2 * threshold <= shares:
            raise ConfigError(
                f"refused secure aggregation over {samples} nodes with {shares} shares and "
                f"threshold {threshold}: it needs at least 2 nodes and a threshold above "
                "half the shares, or the server could unmask one node's update."
            )
    if stage == Stage.UNMASK:
        active = set(configs.get(Key.ACTIVE_NODE_ID_LIST, []))
        both = active & set(configs.get(Key.DEAD_NODE_ID_LIST, []))
        if both:
            raise ConfigError(
                f"refused to unmask: the server names node(s) {sorted(both)} both alive and "
                "dropped out, which would unmask their updates one by one."
            )


def _bridge(msg: Message, context: Context, call_next: Any) -> Message:
    """The legacy FitIns as fedrec's train message; fedrec's reply as the FitRes whose
    parameters ``secaggplus_mod`` masks: the clipped update (or histogram), weight 1."""
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    values = dict(fitins.config)
    keys = json.loads(str(values.pop(STATE_KEYS)))
    base = parameters_to_ndarrays(fitins.parameters)
    sent = ArrayRecord({k: Array(np.asarray(a)) for k, a in zip(keys, base, strict=True)})
    inner = Message(RecordDict({ARRAYS: sent, CONFIG: ConfigRecord(values)}), metadata=msg.metadata)
    token = _MASKED.set(True)
    try:
        reply = call_next(inner, context)
    finally:
        _MASKED.reset(token)
    cfg, round_values = read_config(inner)
    metrics = reply.content[METRICS]
    declined = bool(int(metrics.get(DECLINED, 0)))
    if declined or ARRAYS not in reply.content:
        vector = [np.zeros_like(b, dtype=np.float64) for b in base]
    elif round_values.get(REQUEST) == POPULARITY:  # clipped to norm 1 by the client runtime
        vector = clipped([reply.content[ARRAYS][POPULARITY].numpy()], 1.0)
    else:
        new = reply.content[ARRAYS].to_numpy_ndarrays()
        vector = clipped([n - b for n, b in zip(new, base, strict=True)], cfg.privacy.max_grad_norm)
    out = {
        PARTITION_ID: int(metrics[PARTITION_ID]),
        DECLINED: int(declined),
        BYTES_RECEIVED: sent.count_bytes(),
        BYTES_SENT: sum(v.size for v in vector) * 8,  # masked values travel as int64
    }
    res = FitRes(Status(Code.OK, "masked"), ndarrays_to_parameters(vector), 1, out)
    return Message(compat.fitres_to_recorddict(res, keep_input=True), reply_to=msg)


def clipped(vector: list[np.ndarray], norm: float) -> list[np.ndarray]:
    """``vector`` scaled to L2 norm at most ``norm`` (float64)."""
    vector = [np.asarray(v, dtype=np.float64) for v in vector]
    total = float(np.sqrt(sum(float(np.sum(v * v)) for v in vector)))
    scale = min(1.0, norm / total) if total > 0 else 1.0
    return [v * scale for v in vector]
