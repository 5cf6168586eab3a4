"""The Flower commands of a deployment, as argument lists and CLI calls.

- :func:`superlink_argv`: a SuperLink with TLS, SuperNode authentication and a
  ``--database`` (runs and node registrations survive a restart).
- :func:`supernode_argv`: a SuperNode that verifies the SuperLink against the CA,
  signs in with its private key and names its own data and state directories.
- :func:`write_connection`: the ``[superlink.<name>]`` entry of ``$FLWR_HOME/config.toml``
  that ``flwr run``, ``flwr supernode register`` and ``flwr ls`` use.
- :class:`FlowerCli`: those ``flwr`` calls, with ``FLWR_HOME`` set.

Insecure (plain HTTP, no node authentication) is possible only by asking for it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedrec.config import APP_PRIVACY_DEFAULTS, Config, build_config, toml_value
from fedrec.deploy.certs import ServerCertificates
from fedrec.deploy.processes import executable, flower_env
from fedrec.errors import FedrecError

INSECURE_WARNING = (
    "INSECURE: no TLS and no node authentication. Anyone on the network can read the "
    "model updates and join as a node. Use this only on a machine you trust, for testing."
)


def superlink_argv(
    host: str,
    port: int,
    database: Path,
    certs: ServerCertificates | None,
    *,
    insecure: bool = False,
    program: str | None = None,
) -> list[str]:
    """The SuperLink's command line (``certs`` None only with ``insecure``); ``program``
    names the executable as another machine should call it (default: this one's path)."""
    argv = [program or executable("flower-superlink"), "--host", host, "--port", str(port)]
    argv += ["--database", str(database), "--disable-runtime-dependency-installation"]
    if insecure:
        return [*argv, "--insecure"]
    if certs is None:
        raise FedrecError("a secure SuperLink needs certificates (fedrec deploy init).")
    return [
        *argv,
        "--ssl-ca-certfile",
        str(certs.ca),
        "--ssl-certfile",
        str(certs.cert),
        "--ssl-keyfile",
        str(certs.key),
        "--enable-supernode-auth",
    ]


def node_config(values: Mapping[str, Any]) -> str:
    """``--node-config`` text: space-separated ``key=value`` with TOML values."""
    return " ".join(f"{key}={toml_value(value)}" for key, value in values.items())


def supernode_argv(
    superlink: str,
    runtime_port: int,
    config: Mapping[str, Any],
    *,
    root_ca: Path | None,
    private_key: Path | None,
    insecure: bool = False,
    program: str | None = None,
) -> list[str]:
    """A SuperNode's command line: its SuperLink, its own runtime port, its node config."""
    argv = [program or executable("flower-supernode"), "--superlink", superlink]
    argv += ["--port", str(runtime_port), "--node-config", node_config(config)]
    if insecure:
        return [*argv, "--insecure"]
    if root_ca is None or private_key is None:
        raise FedrecError("a secure SuperNode needs the CA certificate and its private key.")
    return [
        *argv,
        "--root-certificates",
        str(root_ca),
        "--auth-supernode-private-key",
        str(private_key),
    ]


def write_connection(
    home: Path, name: str, address: str, root_ca: Path | None, *, insecure: bool = False
) -> Path:
    """Write ``home/config.toml`` with one SuperLink connection ``name`` (the default)."""
    lines = ["[superlink]", f'default = "{name}"', "", f"[superlink.{name}]"]
    lines.append(f'address = "{address}"')
    if insecure:
        lines.append("insecure = true")
    elif root_ca is not None:
        lines.append(f'root-certificates = "{root_ca.resolve()}"')
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class FlowerCli:
    """``flwr`` commands against connection ``connection`` of ``home/config.toml``."""

    home: Path
    connection: str

    def _run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable("flwr"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=flower_env(self.home),
            check=False,
        )

    def _json(self, *args: str) -> dict[str, Any]:
        proc = self._run(*args, "--format", "json")
        try:
            found: dict[str, Any] = json.loads(proc.stdout[proc.stdout.index("{") :])
        except ValueError:
            found = {}
        if proc.returncode != 0 or not found.get("success", False):
            raise FedrecError(
                f"flwr {' '.join(args)} failed: {(proc.stdout + proc.stderr).strip()[-600:]}"
            )
        return found

    def register(self, public_key: Path) -> int:
        """Register a SuperNode's public key; its node id."""
        found = self._json("supernode", "register", str(public_key), self.connection)
        return int(found["node-id"])

    def nodes(self) -> list[dict[str, Any]]:
        """The SuperNodes the SuperLink knows, with their status (registered, online, ...)."""
        return list(self._json("supernode", "list", self.connection)["nodes"])

    def online(self) -> int:
        return sum(1 for node in self.nodes() if node.get("status") == "online")

    def run_argv(self, app: Path, run_config: Path) -> list[str]:
        """``flwr run APP CONNECTION --stream --run-config FILE`` (it exits when the run
        ends, with the run's outcome)."""
        argv = [executable("flwr"), "run", str(app), self.connection, "--stream"]
        return [*argv, "--run-config", str(run_config)]


def write_run_config(cfg: Config, path: Path) -> None:
    """The run config ``flwr run`` sends (``--run-config FILE``): every key that differs
    from ``[tool.flwr.app.config]``, which holds the library defaults and the app's."""
    defaults = build_config(APP_PRIVACY_DEFAULTS).to_flat()
    changed = {k: v for k, v in cfg.to_flat().items() if defaults.get(k) != v}
    lines = [f"{key} = {toml_value(value)}\n" for key, value in sorted(changed.items())]
    path.write_text("".join(lines), encoding="utf-8")
