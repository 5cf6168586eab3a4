"""Where tensors live: CUDA when present, else the CPU with a sensible thread count."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from fedrec.errors import ConfigError


def pick_device(setting: str = "auto", threads: int = 0) -> torch.device:
    """``auto`` picks CUDA when available; ``threads`` > 0 caps CPU threads."""
    if threads > 0:
        torch.set_num_threads(threads)
    elif torch.get_num_threads() > (os.cpu_count() or 1):
        torch.set_num_threads(os.cpu_count() or 1)
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device='cuda' but no CUDA device is visible: use device='auto' or 'cpu'."
        )
    if setting not in ("cpu", "cuda") and not setting.startswith("cuda:"):
        raise ConfigError(f"device={setting!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    return torch.device(setting)


def cores() -> int:
    """CPU cores this process may run on (its affinity, where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def torch_threads(during: int, after: int) -> Iterator[None]:
    """torch on ``during`` threads inside the block, set to ``after`` when it ends.

    The count is process-wide for threads that start later, so ``after`` is the
    caller's fixed setting rather than whatever the count was on entry (another
    block running at the same time may have changed it)."""
    torch.set_num_threads(during)
    try:
        yield
    finally:
        torch.set_num_threads(after)
