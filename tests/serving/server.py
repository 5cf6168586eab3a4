"""Start and stop a real ``fedrec serve`` process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(path: Path, *args: str, timeout: float = 120.0) -> Iterator[str]:
    """Run ``fedrec serve path`` until the block ends; yields its base URL."""
    with serving_process(path, *args, timeout=timeout) as (base, _):
        yield base


@contextmanager
def serving_process(
    path: Path, *args: str, timeout: float = 120.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """The same, yielding the base URL and the process."""
    port = free_port()
    command = [sys.executable, "-c", "from fedrec.cli import main; main()", "serve", str(path)]
    command += ["--host", "127.0.0.1", "--port", str(port), *args]
    log = path.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"fedrec serve exited ({proc.returncode}):\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"fedrec serve was not ready in {timeout} s:\n{log.read_text()}")
            time.sleep(0.2)
        yield base, proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM by pid, then SIGKILL if it has not gone in 10 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
