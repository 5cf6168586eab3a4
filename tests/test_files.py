"""Durable writes: a failed write keeps the old file whole; JSON holds no NaN."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from fedrec import files


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    files.atomic_write_text(target, "old\n")

    def crash(fd, data):
        raise OSError("disk full")

    monkeypatch.setattr(os, "write", crash)
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write_text(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n"


def test_writes_are_fsynced_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    files.atomic_write_bytes(tmp_path / "state.bin", b"x")
    assert len(synced) == 2  # the temporary file, then the folder after the rename
    files.append_line(tmp_path / "log.jsonl", "{}")
    assert len(synced) == 3


def test_appends_are_whole_lines(tmp_path):
    path = tmp_path / "ledger.jsonl"
    files.append_line(path, '{"a": 1}')
    files.append_line(path, '{"a": 2}\n')
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'


def test_json_safe_turns_what_json_cannot_hold_into_plain_values():
    out = files.json_safe(
        {"nan": math.nan, "inf": math.inf, "np": np.float32(0.5), "xs": (1, np.int64(2))}
    )
    assert out == {"nan": None, "inf": None, "np": 0.5, "xs": [1, 2]}
    json.dumps(out, allow_nan=False)
