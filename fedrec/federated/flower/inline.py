"""``simulation-engine = "inline"``: the ServerApp and ClientApp in one process, no Ray.

Flower's simulation engine runs clients in Ray workers and routes every
message through an in-memory SuperLink that, every 0.1 s, checks each
registered node against each stored message: its cost grows with nodes x
messages, which at thousands of nodes keeps a core busy and makes a
broadcast to every node (the popularity histograms, the partition map)
quadratic (docs/BENCHMARKS.md, "Cross-device scale"). For populations of
thousands of one-user clients, :class:`InlineGrid` delivers each message
straight to the same ClientApp, one at a time, in this process: the same
Flower apps, records, strategies and mods; one model for all clients; no
worker start-up; cost per message independent of the population.

Each node gets its own copy of a message; a client's exception becomes an
error reply (its traceback's end in the reason) and leaves the node's context
as it was. What it does not do: run clients in parallel (a client uses every
core instead), honour message TTLs, or isolate a client's crash (a segfault)
from the server's process.
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Iterable
from typing import Any
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

#: The run id of an inline simulation (there is one run per process call).
RUN_ID = 1


class InlineGrid(Grid):
    """A Flower Grid whose nodes are ClientApp calls in this process."""

    def __init__(
        self, client_app: ClientApp, node_configs: list[dict[str, Any]], run_config: dict[str, Any]
    ) -> None:
        self._app = client_app
        self._run = Run.create_empty(RUN_ID)
        _server_identity()
        # Node ids as Flower gives them: opaque numbers, not the partition ids.
        self._contexts = {
            1_000 + i: Context(
                run_id=RUN_ID,
                node_id=1_000 + i,
                node_config=dict(config),
                state=RecordDict(),
                run_config=dict(run_config),
            )
            for i, config in enumerate(node_configs)
        }
        self._pending: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            if message.metadata.dst_node_id not in self._contexts:
                raise ValueError(f"no node {message.metadata.dst_node_id} in this simulation")
            message.metadata.__dict__["_message_id"] = str(uuid4())
            self._pending[message.metadata.message_id] = message
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._deliver(self._pending.pop(i)) for i in message_ids if i in self._pending]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))

    def _deliver(self, message: Message) -> Message:
        """The node's ClientApp on its own copy of ``message`` (a strategy may give every
        node the same content object); an exception becomes an error reply and leaves the
        node's context as it was, as in Flower's engine."""
        node = message.metadata.dst_node_id
        message.metadata.__dict__["_delivered_at"] = str(time.time())
        delivered = Message(copy.deepcopy(message.content), metadata=copy.copy(message.metadata))
        before = copy.deepcopy(self._contexts[node].state)
        try:
            reply = self._app(delivered, self._contexts[node])
        except Exception as err:  # a failing client is a reply, as in Flower's engine
            self._contexts[node].state = before
            reason = f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
            reply = Message(Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason), reply_to=message)
        reply.metadata.__dict__["_message_id"] = str(uuid4())
        return reply


def run_inline(
    server_app: ServerApp,
    client_app: ClientApp,
    node_configs: list[dict[str, Any]],
    run_config: dict[str, Any] | None = None,
) -> None:
    """Run ``server_app`` against ``client_app`` on one node per entry of ``node_configs``."""
    grid = InlineGrid(client_app, node_configs, run_config or {})
    context = Context(
        run_id=RUN_ID,
        node_id=SUPERLINK_NODE_ID,
        node_config={},
        state=RecordDict(),
        run_config=dict(run_config or {}),
    )
    server_app(grid, context)


def _server_identity() -> None:
    """Messages the server creates take their run and source from the task identity, as
    Flower's own engines set it (its legacy ``start_grid`` sets the same dummy identity)."""
    TaskIdentity.task_id = 1
    TaskIdentity.run_id = RUN_ID
    TaskIdentity.node_id = SUPERLINK_NODE_ID
