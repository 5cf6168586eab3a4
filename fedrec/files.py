"""Durable file writes and JSON that every reader accepts.

Everything fedrec writes whole (summaries, configs, states, checkpoints,
accountant files, reports) goes through :func:`atomic_write_bytes`: the bytes
go to a temporary file in the same folder, which is fsynced, renamed over the
target, and the folder is fsynced, so a crash at any moment leaves either the
old file or the new one, never a torn one, and a finished rename survives a
power loss. Appends (metrics, the privacy ledger) go through
:func:`append_line`: one write of a whole line, then fsync.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` (a folder) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def parquet_bytes(frame: Any, **options: Any) -> bytes:
    """A pandas frame as Parquet file bytes (no index), to write atomically; ``options``
    go to ``DataFrame.to_parquet`` (a pyarrow ``schema``, for instance)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, **options)
    return buffer.getvalue()


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> None:
    """``obj`` as JSON (non-finite numbers as null), atomically."""
    atomic_write_text(path, json.dumps(json_safe(obj), indent=indent) + "\n")


def append_line(path: str | Path, line: str) -> None:
    """Append one whole line (a single write on an O_APPEND descriptor), then fsync."""
    append_lines(path, [line])


def append_lines(path: str | Path, lines: list[str]) -> None:
    """Append whole lines with one fsync at the end (a round's ledger lines at once)."""
    data = "".join(x if x.endswith("\n") else x + "\n" for x in lines).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def json_safe(obj: Any) -> Any:
    """``obj`` with what JSON cannot hold replaced: NaN and ±inf become null (an undefined
    metric, or the ε of no guarantee), numpy and torch scalars plain numbers."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return json_safe(obj.item())
    return obj


def undecodable_line(lines: Iterable[bytes], encoding: str) -> int:
    """The 1-based number of the first of ``lines`` (a file opened in binary mode) that
    ``encoding`` cannot decode, or 0 if all decode. A text reader's decode error counts
    from the chunk it was decoding, not from the file's start: this names the line."""
    for lineno, raw in enumerate(lines, start=1):
        try:
            raw.decode(encoding)
        except UnicodeDecodeError:
            return lineno
    return 0
