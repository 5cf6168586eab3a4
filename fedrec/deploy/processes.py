"""Flower's processes for a deployment, started in their own sessions and stopped by pid.

:class:`Processes` starts each executable in a new session (so its children, the
ServerApp and ClientApp processes Flower spawns, go with it), logs it to a file,
records its pid under ``<dir>/pids/``, and stops it by that pid (SIGTERM to its
process group, SIGKILL after a grace period). Used as a context manager it stops
everything it started, also when the body fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from fedrec.errors import FedrecError


def executable(name: str) -> str:
    """A Flower executable installed beside this Python (a venv need not be active),
    else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise FedrecError(f"{name} is not installed: install flwr in this environment.")
    return found


def flower_env(home: Path | None = None) -> dict[str, str]:
    """The environment for Flower's processes: this environment's scripts first on PATH
    (Flower starts flwr-serverapp, flwr-clientapp, ... by name) and ``FLWR_HOME``."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(executable("flwr")).parent), env.get("PATH", "")])
    env.setdefault("HF_HUB_OFFLINE", "1")
    if home is not None:
        env["FLWR_HOME"] = str(home)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool], timeout: float, what: str, alive: Callable[[], bool] | None = None
) -> None:
    """Poll ``ready`` until it holds; fail naming ``what`` on timeout or when ``alive``
    says the process it waits for has exited."""
    deadline = time.monotonic() + timeout
    while not ready():
        if alive is not None and not alive():
            raise FedrecError(f"{what}: the process exited.")
        if time.monotonic() > deadline:
            raise FedrecError(f"{what}: not ready after {timeout:.0f} s.")
        time.sleep(0.3)


class Processes:
    """The processes of one deployment, by name; see the module docstring."""

    def __init__(self, directory: str | Path, env: dict[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.directory / "logs" / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.directory / "pids" / f"{name}.pid"

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` as ``name`` (which must not be running)."""
        if name in self.procs and self.procs[name].poll() is None:
            raise FedrecError(f"{name} is already running (pid {self.procs[name].pid}).")
        for path in (self.log(name), self.pid_file(name)):
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log(name), "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env,
                cwd=self.directory,
            )
        self.procs[name] = proc
        self.pid_file(name).write_text(f"{proc.pid}\n")
        return proc

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop(self, name: str, grace: float = 5.0, sig: int = signal.SIGTERM) -> None:
        """Stop ``name`` and its process group by its pid (SIGKILL after ``grace`` s)."""
        proc = self.procs.pop(name, None)
        self.pid_file(name).unlink(missing_ok=True)
        if proc is None:
            return
        _signal_group(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
        _signal_group(proc.pid, signal.SIGKILL)  # children left in its group

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` at once, as a crash would."""
        self.stop(name, grace=5.0, sig=signal.SIGKILL)

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
