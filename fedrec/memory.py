"""Giving freed memory back to the OS between clients.

A process that trains thousands of clients one after another (a simulation
worker) allocates tensors of a different size for each: glibc's allocator
keeps the freed pieces in its arenas, and the worker's resident memory climbs
by hundreds of MiB per hundred clients (measured: 0.7 to 2.1 GiB over 240
one-user clients) although nothing is alive. ``malloc_trim`` returns them;
with it the same loop stays flat (0.76 to 0.78 GiB). Elsewhere than glibc this
is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _trim() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Return the allocator's free memory to the OS (glibc's ``malloc_trim(0)``)."""
    trim = _trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
