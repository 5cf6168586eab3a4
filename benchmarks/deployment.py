"""Deployment engine against simulation engine: round time, bytes per node, set-up time.

One config, run twice on this machine: ``fedrec simulate`` (the inline engine, every
client in one process) and a real deployment on 127.0.0.1 (``fedrec.deploy.demo``:
a SuperLink with TLS, node authentication and a database, NODES SuperNodes with their
own data, ``flwr run``). Prints, for each: the mean round time (train phase), the
bytes each node sent and received per round, and the run's wall time; for the
deployment also the set-up: SuperLink up, nodes signed in over TLS + authentication.

    python benchmarks/deployment.py [--nodes 3] [--rounds 2] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _simulate(values: dict[str, Any], out: Path) -> dict[str, Any]:
    from fedrec.config import build_config
    from fedrec.federated.flower.simulation import simulate
    from fedrec.runs.rundir import RunDir

    cfg = build_config(values | {"run-dir": str(out)})
    start = time.perf_counter()
    summary = simulate(cfg, RunDir(out).create())
    return {"wall": time.perf_counter() - start, **summary["federation"]}


class Relay:
    """A TCP relay in front of the SuperLink that counts the bytes each way (TLS and all)."""

    def __init__(self, target: int) -> None:
        self.target, self.up, self.down = target, 0, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, "down"), daemon=True
            ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, way: str) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                with self.lock:
                    setattr(self, way, getattr(self, way) + len(data))
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _deploy(values: dict[str, Any], out: Path, nodes: int, rounds: int) -> dict[str, Any]:
    from fedrec.deploy.demo import demo_config, prepare

    cfg = demo_config(values, out, nodes, rounds)
    dep = prepare(cfg, out, nodes, say=lambda _: None)
    relay = Relay(dep.port)
    dep.via = f"127.0.0.1:{relay.port}"
    with dep.processes:
        times = dep.bring_up()
        setup_bytes = relay.up + relay.down
        start = time.perf_counter()
        dep.start_run()
        code = dep.wait_run(3600)
        times["wall"] = time.perf_counter() - start
        times["wire_up"] = (relay.up) / (nodes * rounds)
        times["wire_down"] = (relay.down) / (nodes * rounds)
        times["setup_bytes"] = setup_bytes
    if code != 0:
        raise SystemExit(f"the deployment run failed: see {dep.processes.log('flwr-run')}")
    summary = json.loads((dep.layout.run / "summary.json").read_text())
    return times | summary["federation"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fedrec.config import APP_PRIVACY_DEFAULTS
    from fedrec.config.parse import parse_overrides

    values: dict[str, Any] = APP_PRIVACY_DEFAULTS | parse_overrides(args.sets)
    values |= {"num-clients": args.nodes, "num-server-rounds": args.rounds, "min-replies": 1}
    with tempfile.TemporaryDirectory(prefix="fedrec-bench-deploy-") as tmp:
        sim = _simulate(values, Path(tmp) / "sim")
        dep = _deploy(values, Path(tmp) / "deploy", args.nodes, args.rounds)
    print(f"{args.nodes} nodes, {args.rounds} rounds, overrides {args.sets}")
    head = ("engine", "round s", "sent B/node/round", "recv B/node/round", "wall s")
    print(f"{head[0]:<12}{head[1]:>10}{head[2]:>20}{head[3]:>20}{head[4]:>9}")
    for name, facts in (("simulation", sim), ("deployment", dep)):
        print(
            f"{name:<12}{facts['round_seconds_mean']:>10.1f}"
            f"{facts['bytes_sent_per_client_round']:>20,.0f}"
            f"{facts['bytes_received_per_client_round']:>20,.0f}{facts['wall']:>9.1f}"
        )
    print(
        f"on the wire, nodes <-> SuperLink (TLS, HTTP, heartbeats; popularity round and idle "
        f"polling included), per node per round: up {dep['wire_up']:,.0f} B, "
        f"down {dep['wire_down']:,.0f} B; sign-in of all nodes {dep['setup_bytes']:,.0f} B"
    )
    ratio = dep["round_seconds_mean"] / sim["round_seconds_mean"]
    print(f"round time, deployment / simulation: {ratio:.2f}x")
    print(
        f"set-up: SuperLink up {dep['superlink_up']:.1f} s; {args.nodes} SuperNodes signed in "
        f"over TLS + node authentication {dep['nodes_online']:.1f} s"
    )


if __name__ == "__main__":
    main()
