"""``fedrec superlink``: a local Flower SuperLink for ``flwr run .``."""

from __future__ import annotations

from fedrec.cli.common import console, fail, superlink_app
from fedrec.errors import FedrecError


@superlink_app.command("start")
def superlink_start() -> None:
    """Start the local SuperLink on 127.0.0.1:39091 with runtime dependency installs off."""
    from fedrec.federated.flower import superlink

    try:
        pid = superlink.start()
    except FedrecError as err:
        fail(err)
        return
    console.print(f"local SuperLink running (pid {pid}); now: flwr run . --stream")


@superlink_app.command("stop")
def superlink_stop() -> None:
    """Stop the local SuperLink that 'fedrec superlink start' started."""
    from fedrec.federated.flower import superlink

    console.print("stopped" if superlink.stop() else "no SuperLink started by fedrec is running")


@superlink_app.command("status")
def superlink_status() -> None:
    """Say whether a SuperLink answers on the local port."""
    from fedrec.federated.flower import superlink

    console.print("running" if superlink.is_running() else "not running")
