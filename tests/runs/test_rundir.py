"""The run directory: what it refuses, what it replaces, and what survives a crash."""

from __future__ import annotations

import json
import math

import pytest
import torch

from fedrec.config import build_config
from fedrec.errors import FedrecError
from fedrec.runs.rundir import CONFIG, RunDir


def test_a_run_is_never_overwritten_by_accident(tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.write_config(build_config({}))
    with pytest.raises(FedrecError, match=r"unfinished run.*--overwrite"):
        RunDir(tmp_path / "run").create()
    run.write_summary({"test": {}})
    with pytest.raises(FedrecError, match="finished run"):
        RunDir(tmp_path / "run").create()


def test_overwrite_removes_the_run_files_and_nothing_else(tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.write_config(build_config({}))
    run.write_kind("federated")
    run.append_metrics({"round": 1})
    (run.path / "client-state").mkdir()
    (run.path / "notes.txt").write_text("mine")
    again = RunDir(tmp_path / "run").create(overwrite=True)
    with again.replacing():
        assert sorted(p.name for p in run.path.iterdir()) == [".replaced-run", "notes.txt"]
    assert sorted(p.name for p in run.path.iterdir()) == ["notes.txt"]


def test_a_run_that_fails_gives_back_the_run_it_replaced(tmp_path):
    """--overwrite with a setting found bad only after the run started (or an interrupt):
    the old run comes back whole, and nothing of the failed one stays."""
    run = RunDir(tmp_path / "run").create()
    run.write_config(build_config({"seed": 3}))
    run.write_kind("federated")
    run.append_metrics({"round": 1})
    (run.path / "client-state").mkdir()
    (run.path / "client-state" / "partition-0-privacy.json").write_text("{}")
    before = {p.relative_to(run.path): p.read_bytes() for p in run.path.rglob("*") if p.is_file()}
    again = RunDir(tmp_path / "run").create(overwrite=True)
    with pytest.raises(KeyboardInterrupt), again.replacing():
        again.write_config(build_config({"seed": 4}))
        again.append_metrics({"round": 1, "new": True})
        raise KeyboardInterrupt
    after = {p.relative_to(run.path): p.read_bytes() for p in run.path.rglob("*") if p.is_file()}
    assert after == before


def test_config_kind_state_and_summary_round_trip(tmp_path):
    run = RunDir(tmp_path).create()
    cfg = build_config({"lora-rank": 4, "seed": 3})
    run.write_config(cfg)
    assert run.require().read_config() == cfg
    assert run.read_kind() is None
    run.write_kind("centralized")
    assert run.read_kind() == "centralized"
    state = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    run.save_state(state)
    assert torch.equal(run.load_state()["a"], state["a"])
    run.write_summary({"test": {"ndcg@10": math.nan}, "privacy": {"epsilon": math.inf}})
    summary = run.read_summary()
    assert summary["test"]["ndcg@10"] is None and summary["privacy"]["epsilon"] is None
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file is left behind


def test_metrics_are_appended_one_whole_line_each(tmp_path):
    run = RunDir(tmp_path).create()
    run.append_metrics({"epoch": 1, "loss": 0.5})
    run.append_metrics({"epoch": 2, "loss": math.nan})
    assert run.read_metrics() == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": None}]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def test_lenient_reading_skips_keys_this_version_does_not_know(tmp_path):
    run = RunDir(tmp_path).create()
    run.write_config(build_config({}))
    with open(tmp_path / CONFIG, "a") as fh:
        fh.write('retired-key = "x"\n')
    with pytest.raises(FedrecError, match="retired-key"):
        run.read_config()
    assert run.read_config(lenient=True) == build_config({})


def test_missing_files_name_the_fix(tmp_path):
    with pytest.raises(FedrecError, match="not a run directory"):
        RunDir(tmp_path).require()
    with pytest.raises(FedrecError, match="did not finish saving"):
        RunDir(tmp_path).load_state()
    with pytest.raises(FedrecError, match="has not finished"):
        RunDir(tmp_path).read_summary()


def test_damaged_files_get_errors_that_name_them(tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.write_config(build_config({}))
    (run.path / "summary.json").write_text('{"test": {"ndcg')
    with pytest.raises(FedrecError, match=r"summary.json is damaged.*--recompute"):
        run.read_summary()
    (run.path / "state.safetensors").write_bytes(b"\x10\x00\x00")
    with pytest.raises(FedrecError, match=r"state.safetensors cannot be read"):
        run.load_state()
    (run.path / "run.json").write_text("{kind")
    with pytest.raises(FedrecError, match=r"run.json is damaged"):
        run.read_kind()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FedrecError, match="is a file"):
        RunDir(tmp_path / "a-file").create()


def test_a_replacement_killed_hard_keeps_the_run_it_replaced(tmp_path):
    """Killed hard while replacing run A with B, A stays aside. A resume of B that fails
    must not bring A back over B; a new --overwrite drops B's pieces and keeps A until it
    succeeds."""
    run = RunDir(tmp_path / "run").create()
    run.write_config(build_config({"seed": 1}))  # A
    half = RunDir(tmp_path / "run").create(overwrite=True)
    half.write_config(build_config({"seed": 2}))  # B, then SIGKILL: replacing() never ends
    resumed = RunDir(tmp_path / "run")
    with pytest.raises(RuntimeError), resumed.replacing():
        raise RuntimeError("the resume failed")
    assert "seed = 2" in (run.path / CONFIG).read_text()  # B is still B
    again = RunDir(tmp_path / "run").create(overwrite=True)
    with pytest.raises(KeyboardInterrupt), again.replacing():
        again.write_config(build_config({"seed": 3}))
        raise KeyboardInterrupt
    assert "seed = 1" in (run.path / CONFIG).read_text()  # A, the last whole run
