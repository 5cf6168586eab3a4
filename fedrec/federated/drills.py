"""Fault drills: clients that fail on purpose, to test a federation's tolerance.

Set by the ``fail-clients`` key (:class:`~fedrec.config.DrillConfig`), never
by a real run's settings; the ClientApp runs the drill before it trains.
"""

from __future__ import annotations

from fedrec.config import Config


class InjectedClientFailure(RuntimeError):
    """Raised by clients listed in ``fail-clients`` (fault-tolerance drills)."""


def run_drills(cfg: Config, partition_id: int) -> None:
    """Raise :class:`InjectedClientFailure` if this client is drilled to fail."""
    if partition_id in cfg.drills.failing:
        raise InjectedClientFailure(
            f"client {partition_id} is listed in fail-clients and refuses to train"
        )
