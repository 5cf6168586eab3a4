"""`flwr run .` against a local SuperLink that this test starts and stops by pid."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fedrec.federated.flower import superlink

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _toml(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def test_flwr_run_trains_and_writes_the_run_directory(tmp_path, fed_flat):
    if superlink.is_running():
        pytest.skip("a SuperLink already answers on the local port; not touching it")
    overrides = fed_flat | {
        "num-clients": 2,
        "num-server-rounds": 1,
        "run-dir": str(tmp_path / "run"),
    }
    keep = [
        "backbone",
        "synthetic-users",
        "synthetic-items-per-scenario",
        "synthetic-interactions-per-user",
        "negatives",
        "batch-size",
        "max-tokens",
        "embed-dim",
        "ease-l2",
        "baselines",
        "num-clients",
        "num-server-rounds",
        "run-dir",
    ]
    run_config = " ".join(f"{k}={_toml(overrides[k])}" for k in keep)
    flwr = str(Path(sys.executable).parent / "flwr")
    pid = superlink.start()
    try:
        proc = subprocess.run(
            [flwr, "run", str(ROOT), "--stream", "--run-config", run_config],
            capture_output=True,
            text=True,
            timeout=420,
        )
    finally:
        stopped = superlink.stop()
    assert stopped and pid > 0
    assert not superlink.is_running()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["federation"]["clients"] == 2
    assert "ndcg@10" in summary["test"]
    # The pyproject defaults are private, and the run's log ends saying what it spent.
    assert summary["privacy"]["mode"] == "local"
    assert f"ε = {summary['privacy']['epsilon']:.2f}" in proc.stdout + proc.stderr
    notices = [x for x in (proc.stdout + proc.stderr).splitlines() if "deprecat" in x.lower()]
    assert not notices
