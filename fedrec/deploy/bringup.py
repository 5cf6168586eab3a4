"""``fedrec deploy init``: what a deployment across machines needs, and the commands to run.

Writes the CA and SuperLink certificate (for the host names and IPs the nodes use),
one key pair per SuperNode, the operator's ``flwr`` connection and a run config,
then the exact commands for each machine into ``COMMANDS.md`` (paths relative to
the deployment directory, which each machine receives its part of).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fedrec.config import Config
from fedrec.deploy.certs import ServerCertificates, make_node_keys, make_server_certificates
from fedrec.deploy.commands import (
    INSECURE_WARNING,
    superlink_argv,
    supernode_argv,
    write_connection,
    write_run_config,
)
from fedrec.errors import ConfigError
from fedrec.privacy.policy import NodePolicy

#: The connection name ``fedrec deploy init`` writes for the operator.
CONNECTION = "fedrec"
#: Where each SuperNode keeps its data and state on its own machine.
NODE_DATA = "/srv/fedrec/data"
NODE_STATE = "/srv/fedrec/state"


@dataclass(frozen=True)
class Plan:
    """A deployment's commands, machine by machine."""

    superlink: list[str]
    register: list[list[str]]
    nodes: list[list[str]]
    run: list[str]


def node_policy(cfg: Config) -> dict[str, object]:
    """The privacy policy a node states in its own node config: here, the run's. Each
    node's operator may state a stronger one; a run that asks for weaker is refused."""
    return NodePolicy.from_config(cfg).node_config()


def init_deployment(
    out: Path,
    cfg: Config,
    nodes: int,
    hosts: Sequence[str],
    port: int,
    *,
    insecure: bool = False,
) -> Plan:
    """Write certificates, keys and the operator's connection under ``out``; the plan."""
    if nodes < 1:
        raise ConfigError(f"--nodes={nodes}: a deployment needs at least one node.")
    if not hosts:
        raise ConfigError("--host: name the SuperLink's host name or IP (repeat for several).")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty: choose a new directory for the deployment.")
    out.mkdir(parents=True, exist_ok=True)
    address = f"{hosts[0]}:{port}"
    certs = None if insecure else make_server_certificates(out / "certs", hosts)
    write_connection(
        out / "flwr-home",
        CONNECTION,
        address,
        None if certs is None else certs.ca,
        insecure=insecure,
    )
    on_superlink = None  # the SuperLink machine holds its files beside its database
    if certs is not None:
        on_superlink = ServerCertificates(
            Path(certs.ca.name), Path(certs.cert.name), Path(certs.key.name)
        )
    superlink = superlink_argv(
        "0.0.0.0",  # every interface: the nodes are on other machines
        port,
        Path("superlink.db"),
        on_superlink,
        insecure=insecure,
        program="flower-superlink",
    )
    register, node_lines = [], []
    for i in range(nodes):
        keys = None if insecure else make_node_keys(out / "keys", f"node-{i}")
        if keys is not None:
            register.append(["flwr", "supernode", "register", str(keys.public), CONNECTION])
        config = {
            "data-dir": f"{NODE_DATA}/node-{i}",
            "state-dir": NODE_STATE,
            **node_policy(cfg),
        }
        node_lines.append(
            supernode_argv(
                address,
                9094,
                config,
                root_ca=Path("ca.pem"),
                private_key=Path(f"node-{i}.key"),
                insecure=insecure,
                program="flower-supernode",
            )
        )
    write_run_config(cfg, out / "run-config.toml")
    run_config = str((out / "run-config.toml").resolve())
    run = ["flwr", "run", ".", CONNECTION, "--stream", "--run-config", run_config]
    return Plan(superlink, register, node_lines, run)


def commands_text(out: Path, plan: Plan, *, insecure: bool = False) -> str:
    """COMMANDS.md: the plan as commands to paste, machine by machine."""
    q = shlex.join
    lines = ["# Commands for this deployment", ""]
    if insecure:
        lines += [f"**{INSECURE_WARNING}**", ""]
    copy = "Copy `certs/superlink.pem`, `certs/superlink.key` and `certs/ca.pem` to it."
    node_files = "its data directory" if insecure else "`certs/ca.pem`, `keys/node-i.key` and"
    node_files += "" if insecure else " its data directory"
    lines += [
        "## 1. SuperLink machine",
        "",
        "Run it where it keeps `superlink.db` (runs and node registrations survive restarts)."
        + ("" if insecure else " " + copy),
        "",
        "```",
        q(plan.superlink),
        "```",
        "",
        "## 2. Operator: register each node's public key",
        "",
        f"With `FLWR_HOME={out / 'flwr-home'}` (its `config.toml` names the SuperLink):",
        "",
        *(
            ["```", *[q(argv) for argv in plan.register], "```"]
            if plan.register
            else ["Nothing to register: insecure mode has no node authentication."]
        ),
        "",
        "## 3. Each node machine",
        "",
        f"Node i receives {node_files} (`fedrec data partition ... --out DIR`, then "
        f"`DIR/node-i`) at {NODE_DATA}/node-i, and a state directory that persists.",
        "",
    ]
    for i, argv in enumerate(plan.nodes):
        lines += [f"Node {i}:", "", "```", q(argv), "```", ""]
    lines += [
        "## 4. Operator: run the app",
        "",
        "From fedrec's source tree, with the same `FLWR_HOME`:",
        "",
        "```",
        q(plan.run),
        "```",
        "",
    ]
    return "\n".join(lines)
