"""A local Flower SuperLink for ``flwr run .`` that uses this environment as it is.

``flwr run .`` with the default local connection starts a SuperLink on
127.0.0.1:39091 that installs each app's dependencies into a fresh environment
with ``uv sync``. For fedrec that means downloading PyTorch again (a multi-GB
CUDA build), and it fails offline. ``fedrec superlink start`` starts the same
local SuperLink with runtime dependency installation disabled, so runs use the
environment fedrec is installed in; ``flwr run .`` finds it and reuses it.
``fedrec superlink stop`` stops it by the pid it recorded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fedrec.errors import FedrecError

HTTP_PORT = int(os.environ.get("FLWR_LOCAL_SUPERLINK_HTTP_API_PORT", "39091"))
CONTROL_ADDRESS = f"127.0.0.1:{os.environ.get('FLWR_LOCAL_CONTROL_API_PORT', '39093')}"


def _home() -> Path:
    return Path(os.environ.get("FLWR_HOME", Path.home() / ".flwr")) / "local-superlink"


def pid_file() -> Path:
    return _home() / "fedrec-superlink.pid"


def is_running() -> bool:
    """Whether a SuperLink answers on the local HTTP port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/health", timeout=0.5) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


def start(timeout: float = 30.0) -> int:
    """Start the local SuperLink (no runtime installs); return its pid."""
    if is_running():
        raise FedrecError(
            f"a SuperLink already answers on 127.0.0.1:{HTTP_PORT}. If 'flwr run' started it, "
            "it installs app dependencies with uv: stop it (fedrec superlink stop, or kill the "
            "flower-superlink process) and start again."
        )
    # The one installed beside this Python (a venv need not be activated), else PATH.
    beside = Path(sys.executable).parent / "flower-superlink"
    exe = str(beside) if beside.exists() else shutil.which("flower-superlink")
    if exe is None:
        raise FedrecError("flower-superlink is not on PATH: install flwr in this environment.")
    home = _home()
    home.mkdir(parents=True, exist_ok=True)
    command = [
        exe,
        "--insecure",
        "--simulation",
        "--isolation",
        "subprocess",
        "--control-api-address",
        CONTROL_ADDRESS,
        "--host",
        "127.0.0.1",
        "--port",
        str(HTTP_PORT),
        "--disable-runtime-dependency-installation",
        "--database",
        str(home / "fedrec-state.db"),
    ]
    # The SuperLink starts Flower's other executables (flower-superexec, flwr-serverapp,
    # ...) by name: put this environment's scripts first on their PATH.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(exe).parent), env.get("PATH", "")])
    with open(home / "fedrec-superlink.log", "ab") as log_file:
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    pid_file().write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while not is_running():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop()
            raise FedrecError(
                f"the local SuperLink did not come up; see {home / 'fedrec-superlink.log'}."
            )
        time.sleep(0.3)
    return proc.pid


def stop() -> bool:
    """Stop the SuperLink this module started (by its recorded pid); True if one was stopped."""
    path = pid_file()
    if not path.exists():
        return False
    pid = int(path.read_text().strip() or 0)
    path.unlink(missing_ok=True)
    if pid <= 0:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return True
