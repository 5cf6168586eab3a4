"""``fedrec deploy demo``: a whole deployment on this machine, as separate processes.

Everything an engineer would run across machines, on 127.0.0.1: node data cut
with ``fedrec data partition``, a CA and SuperLink certificate, one key pair per
node, a SuperLink with TLS, node authentication and a database, N SuperNodes
each with its own data and state directory and its own privacy policy, the app
run with ``flwr run``, then ``fedrec audit`` on the run directory. Every process
is stopped by pid at the end, also on failure. The demo succeeds only if the
run finished and the audit passed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrec.audit.ledger_audit import audit_run
from fedrec.audit.report import write_report
from fedrec.config import APP_PRIVACY_DEFAULTS, Config, build_config
from fedrec.data.loading import prepare_split
from fedrec.deploy.bringup import node_policy
from fedrec.deploy.certs import ServerCertificates, make_node_keys, make_server_certificates
from fedrec.deploy.commands import (
    FlowerCli,
    superlink_argv,
    supernode_argv,
    write_connection,
    write_run_config,
)
from fedrec.deploy.processes import Processes, flower_env, free_port, port_open, wait_until
from fedrec.errors import ConfigError, FedrecError
from fedrec.federated.node_data import node_dir, write_partition

#: The connection name the demo writes into its own FLWR_HOME.
CONNECTION = "fedrec-demo"
HOST = "127.0.0.1"


def app_dir() -> Path:
    """The Flower app (the directory with fedrec's pyproject.toml, clients/ and server/)."""
    import fedrec

    root = Path(fedrec.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file() or not (root / "clients").is_dir():
        raise ConfigError(
            "the Flower app directory (fedrec's source tree with pyproject.toml, clients/ "
            "and server/) was not found beside the installed package: run from a source "
            "checkout (pip install -e .)."
        )
    return root


@dataclass
class Layout:
    """Where the demo keeps everything under its ``out`` directory."""

    out: Path

    def __post_init__(self) -> None:
        self.out = self.out.resolve()

    data = property(lambda self: self.out / "data")
    certs = property(lambda self: self.out / "certs")
    keys = property(lambda self: self.out / "keys")
    home = property(lambda self: self.out / "flwr-home")
    run = property(lambda self: self.out / "run")
    database = property(lambda self: self.out / "superlink.db")
    run_config = property(lambda self: self.out / "run-config.toml")

    def state(self, i: int) -> Path:
        return self.out / "state" / f"node-{i}"


@dataclass
class Deployment:
    """The running pieces of a demo deployment (see :func:`run_demo`)."""

    cfg: Config
    layout: Layout
    processes: Processes
    nodes: int
    port: int = 0
    node_ports: dict[int, int] = field(default_factory=dict)
    cli: FlowerCli | None = None
    via: str = ""  # where nodes reach the SuperLink, if not directly (a relay)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start_superlink(self, timeout: float = 60.0) -> None:
        certs = self.layout.certs
        argv = superlink_argv(
            HOST,
            self.port,
            self.layout.database,
            ServerCertificates(certs / "ca.pem", certs / "superlink.pem", certs / "superlink.key"),
        )
        self.processes.start("superlink", argv)
        wait_until(
            lambda: port_open(HOST, self.port),
            timeout,
            "the SuperLink",
            lambda: self.processes.alive("superlink"),
        )

    def node_config(self, i: int) -> dict[str, Any]:
        """Node ``i``'s node config: its data, its state, its privacy policy."""
        return {
            "data-dir": str(node_dir(self.layout.data, i)),
            "state-dir": str(self.layout.state(i)),
            **node_policy(self.cfg),
        }

    def bring_up(self) -> dict[str, float]:
        """The SuperLink, every node's key registered, every SuperNode started and signed
        in; seconds the SuperLink took to come up and the nodes to sign in."""
        assert self.cli is not None
        start = time.perf_counter()
        self.start_superlink()
        times = {"superlink_up": time.perf_counter() - start}
        for i in range(self.nodes):
            self.cli.register(self.layout.keys / f"node-{i}.pub")
        start = time.perf_counter()
        for i in range(self.nodes):
            self.start_node(i)
        self.wait_online(self.nodes)
        times["nodes_online"] = time.perf_counter() - start
        return times

    def start_node(self, i: int, key: str | None = None) -> None:
        """Start SuperNode ``i`` signing in with key ``key`` (default: its own)."""
        port = self.node_ports.setdefault(i, free_port())
        argv = supernode_argv(
            self.via or self.address,
            port,
            self.node_config(i),
            root_ca=self.layout.certs / "ca.pem",
            private_key=self.layout.keys / f"{key or f'node-{i}'}.key",
        )
        self.processes.start(f"node-{i}", argv)

    def restart_node(self, i: int, timeout: float = 240.0) -> None:
        """Start node ``i`` again after a crash. The SuperLink refuses a node it still counts
        online (until two missed 30 s heartbeats, about 60 s, have passed), and the refused
        SuperNode exits: start it again until the SuperLink lets it in, as a supervisor
        would. Let in means the SuperNode logged its id (it does so once connected) and
        is running; a node that is merely slow to start is waited for."""
        name = f"node-{i}"
        log = self.processes.log(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            offset = log.stat().st_size if log.is_file() else 0
            self.start_node(i)
            try:
                wait_until(
                    lambda at=offset: _signed_in(log, at) or not self.processes.alive(name),
                    max(1.0, deadline - time.monotonic()),
                    name,
                )
            except FedrecError:
                break  # still starting when time ran out
            if _signed_in(log, offset) and self.processes.alive(name):
                return
            time.sleep(2.0)
        raise FedrecError(f"{name} was not let back in within {timeout:.0f} s; see {log}.")

    def wait_online(self, count: int, timeout: float = 90.0) -> None:
        assert self.cli is not None
        wait_until(lambda: self.cli.online() >= count, timeout, f"{count} SuperNodes online")

    def start_run(self) -> None:
        """``flwr run`` against this deployment, in the background (``wait_run``)."""
        assert self.cli is not None
        self.processes.start("flwr-run", self.cli.run_argv(app_dir(), self.layout.run_config))

    def wait_run(self, timeout: float) -> int:
        """Wait for ``flwr run`` to exit; its exit code."""
        proc = self.processes.procs["flwr-run"]
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise FedrecError(
                f"the run did not finish in {timeout:.0f} s: see {self.processes.log('flwr-run')}."
            ) from None

    def gather_accountants(self) -> list[Path]:
        """Copy each node's own accountant into the run's ``client-state/``, where
        ``fedrec audit`` checks it against the server's ledger (on machines of their
        own, each node's operator sends its ``partition-<i>-privacy.json``)."""
        target = self.layout.run / "client-state"
        target.mkdir(parents=True, exist_ok=True)
        copied = []
        for i in range(self.nodes):
            for path in self.layout.state(i).glob("partition-*-privacy.json"):
                copied.append(target / path.name)
                shutil.copyfile(path, copied[-1])
        return copied

    def rounds_done(self) -> int:
        """Server rounds the run directory has recorded so far."""
        path = self.layout.run / "metrics.jsonl"
        if not path.is_file():
            return 0
        rounds = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rounds.append(int(json.loads(line)["round"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line being written
        return max(rounds, default=0)


def prepare(cfg: Config, out: Path, nodes: int, say: Callable[[str], None]) -> Deployment:
    """Node data, certificates, keys, the FLWR_HOME connection and the run config."""
    layout = Layout(out)
    if layout.out.exists() and any(layout.out.iterdir()):
        raise ConfigError(f"{layout.out} is not empty: give the demo a new directory.")
    say(f"partitioning the data for {nodes} nodes -> {layout.data}")
    write_partition(prepare_split(cfg), cfg, layout.data, nodes)
    say(f"certificates (CA, SuperLink for {HOST}) and {nodes} node key pairs")
    make_server_certificates(layout.certs, (HOST, "localhost"))
    for i in range(nodes):
        make_node_keys(layout.keys, f"node-{i}")
    make_node_keys(layout.keys, "stranger")  # never registered
    deployment = Deployment(cfg, layout, Processes(layout.out, flower_env(layout.home)), nodes)
    deployment.port = free_port()
    write_connection(layout.home, CONNECTION, deployment.address, layout.certs / "ca.pem")
    deployment.cli = FlowerCli(layout.home, CONNECTION)
    write_run_config(cfg, layout.run_config)
    return deployment


def demo_config(values: dict[str, Any], out: Path, nodes: int, rounds: int) -> Config:
    """The demo's config: its defaults, then the user's values, then its own shape."""
    if nodes < 1 or rounds < 1:
        raise ConfigError(f"--nodes={nodes} --rounds={rounds}: both must be at least 1.")
    return build_config(
        APP_PRIVACY_DEFAULTS
        | values
        | {
            "num-clients": nodes,
            "num-server-rounds": rounds,
            "min-replies": 1,
            "partition": values.get("partition", "user"),
            "run-dir": str((out / "run").resolve()),
        }
    )


@dataclass(frozen=True)
class DemoResult:
    run_dir: Path
    finished: bool
    audit_ok: bool
    refused_stranger: bool
    seconds: float
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.finished and self.audit_ok and self.refused_stranger


def run_demo(
    values: dict[str, Any],
    out: Path,
    *,
    nodes: int = 3,
    rounds: int = 2,
    timeout: float = 900.0,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Bring up the deployment, run the app, audit the run, tear everything down."""
    start = time.monotonic()
    cfg = demo_config(values, out, nodes, rounds)
    deployment = prepare(cfg, out, nodes, say)
    with deployment.processes:
        say(f"SuperLink with TLS, node authentication and --database on {deployment.address}")
        say(f"registering and starting {nodes} SuperNodes with their own data and state")
        deployment.bring_up()
        refused = stranger_refused(deployment)
        say("an unregistered node was refused" if refused else "an unregistered node got in!")
        say(f"flwr run: {rounds} rounds (log: {deployment.processes.log('flwr-run')})")
        deployment.start_run()
        code = deployment.wait_run(timeout)
    summary_path = deployment.layout.run / "summary.json"
    finished = code == 0 and summary_path.is_file()
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    audit_ok = False
    if finished:
        deployment.gather_accountants()
        report = audit_run(deployment.layout.run)
        write_report(report, deployment.layout.run)
        audit_ok = report.ok
    return DemoResult(
        deployment.layout.run, finished, audit_ok, refused, time.monotonic() - start, summary
    )


def stranger_refused(deployment: Deployment, timeout: float = 60.0) -> bool:
    """Start a node whose key was never registered; True if it is turned away (its
    process exits and the SuperLink still counts only the registered nodes online)."""
    name = f"node-{deployment.nodes}"
    deployment.start_node(deployment.nodes, key="stranger")
    try:
        wait_until(
            lambda: not deployment.processes.alive(name), timeout, "the unregistered node's exit"
        )
    except FedrecError:
        return False
    finally:
        deployment.processes.stop(name)
    assert deployment.cli is not None
    return deployment.cli.online() == deployment.nodes


def _signed_in(log: Path, offset: int) -> bool:
    """Whether a SuperNode's log, from ``offset`` on, says the SuperLink let it in."""
    with open(log, "rb") as handle:
        handle.seek(offset)
        return b"SuperNode ID:" in handle.read()
