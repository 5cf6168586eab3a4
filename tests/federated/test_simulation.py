"""Real Flower simulations, small: tiny BERT, three clients, two rounds.

Each run is a real ``fedrec simulate`` process (the simulation engine starts and
stops with it).
"""

import json

import pytest
import torch

from fedrec.federated.server import CHECKPOINT
from fedrec.runs.rundir import RunDir
from tests.federated.runs import cli as _cli
from tests.federated.runs import sets as _sets
from tests.federated.runs import simulate as _run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory, fed_flat):
    return _run(tmp_path_factory.mktemp("sim") / "full", fed_flat)


def test_run_directory_and_summary(two_rounds, fed_flat):
    summary, run = two_rounds
    for key in ("test", "cold_items", "cold_users", "scenarios", "baselines", "federation"):
        assert key in summary
    assert {
        "hr@10",
        "ndcg@10",
        "recall@10",
        "mrr",
        "coverage@10",
        "diversity@10",
        "novelty@10",
    } <= set(summary["test"])
    fed = summary["federation"]
    assert fed["rounds"] == 2 and fed["clients"] == 3
    state = run.load_state(CHECKPOINT)
    payload = sum(v.numel() * 4 for v in state.values())
    assert payload <= fed["bytes_sent_per_client_round"] < payload + 200 * len(state)
    records = run.read_metrics()
    assert [r["round"] for r in records] == [0, 1, 2]
    assert all(r["replies"] == 3 and r["failures"] == [] for r in records[1:])
    assert (run.path / "rounds.png").stat().st_size > 0
    assert (run.path / "cold_users_curve.png").stat().st_size > 0


def test_global_state_changes_across_rounds(tmp_path, fed_flat, two_rounds):
    _, full = two_rounds
    _, one = _run(tmp_path / "one", fed_flat, **{"num-server-rounds": 1})
    s1, s2 = one.load_state(CHECKPOINT), full.load_state(CHECKPOINT)
    assert any(not torch.allclose(s1[k], s2[k]) for k in s1)


def test_resume_gives_the_uninterrupted_state(tmp_path, fed_flat, two_rounds):
    _, full = two_rounds
    path = tmp_path / "resumed"
    _run(path, fed_flat, **{"num-server-rounds": 1})
    proc = _cli("simulate", "--quiet", "--resume", str(path), "--set", "num-server-rounds=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed, expected = RunDir(path).load_state(CHECKPOINT), full.load_state(CHECKPOINT)
    assert set(resumed) == set(expected)
    for k in expected:
        assert torch.allclose(resumed[k], expected[k], atol=1e-5), k
    rounds = [r["round"] for r in RunDir(path).read_metrics()]
    assert rounds == [0, 1, 2]  # appended, not rewritten


def test_a_failing_client_does_not_kill_the_run(tmp_path, fed_flat):
    summary, run = _run(
        tmp_path / "faulty", fed_flat, **{"fail-clients": "1", "num-server-rounds": 1}
    )
    record = run.read_metrics()[1]
    assert record["replies"] == 2 and record["aggregated"] is True
    assert len(record["failures"]) == 1
    assert "fail-clients" in json.dumps(record["failures"])
    assert summary["federation"]["rounds"] == 1


def test_too_few_replies_keep_the_global_state(tmp_path, fed_flat):
    _, run = _run(
        tmp_path / "strict",
        fed_flat,
        **{"fail-clients": "0,1", "min-replies": 2, "num-server-rounds": 1},
    )
    assert run.read_metrics()[1]["aggregated"] is False


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"num-clients": 500}, "num-clients"),
        ({"num-server-rounds": 0}, "num-server-rounds"),
        ({"strategy": "fedmagic"}, "strategy"),
    ],
)
def test_bad_configs_fail_before_training(tmp_path, fed_flat, overrides, match):
    proc = _cli("simulate", "--out", str(tmp_path / "bad"), *_sets(fed_flat | overrides))
    assert proc.returncode == 2
    assert match in proc.stderr
    assert not (tmp_path / "bad" / "metrics.jsonl").exists()


def test_resume_refuses_changes_other_than_rounds(two_rounds):
    _, run = two_rounds
    proc = _cli("simulate", "--resume", str(run.path), "--set", "lr=0.5")
    assert proc.returncode == 2 and "num-server-rounds" in proc.stderr


def test_resume_leaves_a_finished_or_centralized_run_alone(two_rounds, tmp_path):
    """A finished run has nothing to resume, fewer rounds than it ran would contradict
    its summary, and a 'fedrec train' run is no federation: each is refused before
    anything is written."""
    import shutil

    from fedrec.cli.runs import resume_config
    from fedrec.errors import FedrecError

    _, run = two_rounds
    with pytest.raises(FedrecError, match="run 2 rounds already and is finished"):
        resume_config(run, None, [])
    with pytest.raises(FedrecError, match="more than num-server-rounds=1"):
        resume_config(run, None, ["num-server-rounds=1"])
    assert resume_config(run, None, ["num-server-rounds=3"]).federation.num_server_rounds == 3
    central = RunDir(shutil.copytree(run.path, tmp_path / "central"))
    central.write_kind("centralized")
    with pytest.raises(FedrecError, match="not a federated run"):
        resume_config(central, None, [])


def test_resume_refuses_another_out(two_rounds, tmp_path):
    from typer.testing import CliRunner

    from fedrec.cli import app

    _, run = two_rounds
    args = ["simulate", "--resume", str(run.path), "--out", str(tmp_path / "elsewhere")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "leave --out out" in result.output
    assert not (tmp_path / "elsewhere").exists()
