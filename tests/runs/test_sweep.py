"""Privacy/utility sweeps: the sweep file, and a real (tiny) sweep end to end."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fedrec.errors import ConfigError
from fedrec.runs.sweep import load_sweep, run_sweep


def _write(tmp_path, text):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_points_cover_each_mode_and_its_non_private_reference(tmp_path):
    path = _write(
        tmp_path,
        "num-server-rounds = 2\n[sweep]\nprivacy-mode = ['local', 'central']\n"
        "target-epsilon = [1, 8]\n[sweep.central]\nnum-clients = 10\n",
    )
    base, points = load_sweep(path)
    assert base == {"num-server-rounds": 2}
    assert [p.name for p in points] == [
        "local-eps1",
        "local-eps8",
        "local-epsinf",
        "central-eps1",
        "central-eps8",
        "central-epsinf",
    ]
    assert points[3].overrides() == {
        "num-clients": 10,
        "privacy-mode": "central",
        "target-epsilon": 1.0,
    }
    assert points[5].overrides() == {"num-clients": 10, "privacy-mode": "off"}
    assert math.isinf(points[2].epsilon)


def test_private_keys_reach_the_dp_points_only(tmp_path):
    path = _write(
        tmp_path,
        "local-epochs = 1\n[sweep]\nprivacy-mode = ['local']\ntarget-epsilon = [8]\n"
        "[sweep.local]\nnum-clients = 4\n[sweep.local.private]\nlocal-epochs = 8\n",
    )
    base, (dp, reference) = load_sweep(path)
    assert (base | dp.overrides())["local-epochs"] == 8
    assert (base | dp.overrides())["num-clients"] == 4
    assert (base | reference.overrides())["local-epochs"] == 1
    assert (base | reference.overrides())["num-clients"] == 4


@pytest.mark.parametrize(
    "text,match",
    [
        ("num-clients = 2\n", "no \\[sweep\\] table"),
        ("[sweep]\ntarget-epsilon = [0, 1]\n", "positive numbers"),
        ("[sweep]\nprivacy-mode = ['global']\n", "unknown"),
        ("[sweep]\nepsilon = [1]\n", "unknown"),
        ("no-such-key = 1\n[sweep]\ntarget-epsilon = [1]\n", "no-such-key"),
        ("[sweep\n", "not valid TOML"),
        ("[sweep]\ntarget-epsilon = [1]\n[sweep.local]\nprivate = 3\n", "must be a table"),
        (
            "[sweep]\ntarget-epsilon = [1]\n[sweep.local.private]\nlocal-epochs = 0\n",
            "local-epochs",
        ),
        ("[sweep]\ntarget-epsilon = [1]\n[sweep.local]\nprivacy-mode = 'off'\n", "per point"),
        ("[sweep]\ntarget-epsilon = [1]\nnon-private = 'no'\n", "write true or false"),
    ],
)
def test_bad_sweep_files_fail_before_anything_runs(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_sweep(_write(tmp_path, text))


@pytest.mark.slow
def test_a_tiny_sweep_writes_its_table_and_plot(tmp_path, tiny_bert_path):
    path = _write(
        tmp_path,
        f"backbone = '{tiny_bert_path}'\nsynthetic-users = 45\nsynthetic-items-per-scenario = 12\n"
        "synthetic-interactions-per-user = 8\nnegatives = 16\nbatch-size = 32\nmax-tokens = 16\n"
        "embed-dim = 8\nbaselines = 'popularity'\nnum-clients = 3\nnum-server-rounds = 1\n"
        "[sweep]\nprivacy-mode = ['local']\ntarget-epsilon = [4]\n",
    )
    out = tmp_path / "out"
    table = pd.read_csv(run_sweep(path, out))
    assert list(table["point"]) == ["local-eps4", "local-epsinf"]
    private = table.iloc[0]
    assert 0 < private["epsilon"] <= 4.0 * 1.01  # the target is met, never passed
    assert math.isinf(table.iloc[1]["epsilon"])
    assert (out / "sweep.png").stat().st_size > 0 and (out / "sweep.md").exists()
    # Finished points are kept: a second call runs nothing and rewrites the same table.
    stamp = (out / "local-eps4" / "summary.json").stat().st_mtime
    run_sweep(path, out)
    assert (out / "local-eps4" / "summary.json").stat().st_mtime == stamp
    # ...unless they were run with other settings: then reusing them is refused.
    with pytest.raises(ConfigError, match="num-server-rounds differ"):
        run_sweep(path, out, overrides=["num-server-rounds=2"])
    # What the sweep varies cannot be set for every point at once.
    with pytest.raises(ConfigError, match="--set target-epsilon: the sweep varies it"):
        run_sweep(path, out, overrides=["target-epsilon=1"])


def test_the_sweep_table_carries_the_new_to_scenario_slice_when_the_split_has_it():
    from fedrec.runs.sweep import _new_to_scenario

    assert _new_to_scenario({"new_to_scenario_curve": {}}, 10) == {}
    summary = {
        "new_to_scenario_curve": {"0": {"ndcg@10": 0.2}, "1": {"ndcg@10": 0.3}},
        "baselines": {"popularity": {"new_to_scenario_curve": {"0": {"ndcg@10": 0.1}}}},
    }
    assert _new_to_scenario(summary, 10) == {
        "new_to_scenario_ndcg@10": 0.2,
        "new_to_scenario_popularity_ndcg@10": 0.1,
    }


def test_a_list_in_the_sweep_file_reaches_each_point_as_a_list():
    from fedrec.config import build_config, parse_overrides
    from fedrec.runs.sweep import _text

    direct = build_config({"lora-targets": ["query", "value"]})  # as a config file gives it
    passed = build_config(parse_overrides([f"lora-targets={_text(['query', 'value'])}"]))
    assert passed.model.lora_targets == direct.model.lora_targets
