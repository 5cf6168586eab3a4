"""Every Flower record key fedrec uses, and the codec between fedrec's values and records.

Only the trainable state travels, in both directions: the ``arrays`` record of
every message is exactly :func:`~fedrec.models.state.trainable_state`. The full
flat config rides in each message's ``config`` record (with this round's values
beside it), so clients build exactly the model the server evaluates. Replies
carry their numbers in a ``metrics`` record whose keys are defined here only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from fedrec.config import Config, build_config
from fedrec.errors import ConfigError
from fedrec.federated.protocol import EvalResult, State, TrainResult

ARRAYS = "arrays"
CONFIG = "config"
METRICS = "metrics"
NUM_EXAMPLES = "num-examples"
SERVER_ROUND = "server-round"
PROXIMAL_MU = "proximal-mu"
BYTES_RECEIVED = "bytes-received"
BYTES_SENT = "bytes-sent"
PARTITION_ID = "partition-id"
NUM_PARTITIONS = "num-partitions"
DECLINED = "declined"
TRAIN_LOSS = "train-loss"
TRAIN_SECONDS = "train-seconds"
EVAL_SECONDS = "eval-seconds"
PRIVACY_STATE = "fedrec-privacy"  # Context.state record of a node's accountant
DP_MECHANISM = "dp-mechanism"  # local DP: the run's public mechanism, as JSON
REQUEST = "fedrec-request"  # what a query asks for: the popularity histogram
POPULARITY = "popularity"
#: Per-round values that ride beside the config (Flower's DP wrapper adds the clipping norm).
ROUND_KEYS = (SERVER_ROUND, PROXIMAL_MU, KEY_CLIPPING_NORM, DP_MECHANISM, REQUEST)


def _kebab(name: str) -> str:
    return name.replace("_", "-")


# -- arrays ------------------------------------------------------------------------------
def to_arrays(state: State, float16: bool = False) -> ArrayRecord:
    """A trainable state as an ArrayRecord (optionally halved to float16 for the wire)."""
    import torch  # here: the key-exchange stages of SecAgg+ import this module, not torch

    dtype = torch.float16 if float16 else torch.float32
    return ArrayRecord(torch_state_dict={k: v.detach().cpu().to(dtype) for k, v in state.items()})


def from_arrays(record: ArrayRecord) -> State:
    """An ArrayRecord back to a float32 trainable state."""
    return {k: v.float() for k, v in record.to_torch_state_dict().items()}


# -- config ------------------------------------------------------------------------------
def config_record(cfg: Config, **round_values: Any) -> ConfigRecord:
    return ConfigRecord({**cfg.to_flat(), **round_values})


def read_config(msg: Message) -> tuple[Config, dict[str, Any]]:
    """The message's config, parsed once, and its round values (the round a whole
    number from 0, the proximal weight a finite number from 0: the server's message is
    untrusted input)."""
    record = dict(msg.content[CONFIG])
    round_values = {k: record.pop(k) for k in ROUND_KEYS if k in record}
    server_round = round_values.get(SERVER_ROUND, 0)
    if isinstance(server_round, bool) or not isinstance(server_round, int) or server_round < 0:
        raise ConfigError(f"{SERVER_ROUND}={server_round!r}: expected a whole number >= 0.")
    mu = round_values.get(PROXIMAL_MU, 0.0)
    if isinstance(mu, bool) or not isinstance(mu, int | float) or not 0 <= mu < math.inf:
        raise ConfigError(f"{PROXIMAL_MU}={mu!r}: expected a finite number >= 0.")
    return build_config(record), round_values


# -- replies -----------------------------------------------------------------------------
def train_reply(msg: Message, result: TrainResult, float16: bool, *, local_dp: bool) -> Message:
    """The reply to a train message: the new state (none if declined) and its numbers.

    Under local DP the reply carries the noised update and nothing else that depends on
    the client's data: no example count (aggregation weighs every client alike), no loss,
    no timing, no spend (the server computes the ledger from the public mechanism); only
    whether it trained, and sizes fixed by the model."""
    metrics: dict[str, Any] = {
        NUM_EXAMPLES: 1 if local_dp else result.num_examples,
        PARTITION_ID: result.partition,
        DECLINED: int(result.declined),
        BYTES_RECEIVED: msg.content[ARRAYS].count_bytes(),
        BYTES_SENT: 0,
    }
    if not local_dp:
        metrics[TRAIN_LOSS] = result.train_loss
        metrics[TRAIN_SECONDS] = result.train_seconds
    if result.state is None:  # declined: nothing leaves but the refusal
        return Message(RecordDict({METRICS: MetricRecord(metrics)}), reply_to=msg)
    arrays = to_arrays(result.state, float16)
    metrics[BYTES_SENT] = arrays.count_bytes()
    return Message(RecordDict({ARRAYS: arrays, METRICS: MetricRecord(metrics)}), reply_to=msg)


def read_train_reply(reply: Message) -> tuple[TrainResult, int, int]:
    """A train reply as a :class:`TrainResult`, and the bytes sent and received."""
    m = reply.content[METRICS]
    declined = bool(int(m.get(DECLINED, 0)))
    result = TrainResult(
        partition=int(m[PARTITION_ID]),
        state=None if declined else from_arrays(reply.content[ARRAYS]),
        num_examples=int(m[NUM_EXAMPLES]),
        train_loss=float(m.get(TRAIN_LOSS, math.nan)),
        train_seconds=float(m.get(TRAIN_SECONDS, math.nan)),
    )
    return result, int(m[BYTES_SENT]), int(m[BYTES_RECEIVED])


def popularity_reply(msg: Message, partition: int, counts: np.ndarray | None) -> Message:
    """The reply to a popularity query: the histogram, or a refusal (budget)."""
    metrics = MetricRecord({PARTITION_ID: partition, DECLINED: int(counts is None)})
    content = RecordDict({METRICS: metrics})
    if counts is not None:
        content[ARRAYS] = ArrayRecord({POPULARITY: Array(np.asarray(counts, dtype=np.float64))})
    return Message(content, reply_to=msg)


def read_popularity_reply(reply: Message) -> tuple[int, np.ndarray | None]:
    m = reply.content[METRICS]
    if int(m[DECLINED]):
        return int(m[PARTITION_ID]), None
    return int(m[PARTITION_ID]), reply.content[ARRAYS][POPULARITY].numpy()


def eval_reply(msg: Message, result: EvalResult) -> Message:
    metrics = {
        NUM_EXAMPLES: result.num_examples,
        EVAL_SECONDS: result.eval_seconds,
        **{_kebab(k): v for k, v in result.metrics.items()},
    }
    return Message(RecordDict({METRICS: MetricRecord(metrics)}), reply_to=msg)


def read_eval_reply(reply: Message) -> EvalResult:
    m = dict(reply.content[METRICS])
    n, seconds = int(m.pop(NUM_EXAMPLES)), float(m.pop(EVAL_SECONDS))
    return EvalResult(n, {k.replace("-", "_"): float(v) for k, v in m.items()}, seconds)
