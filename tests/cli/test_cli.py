"""End to end through the command line: train, evaluate, inspect, errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedrec.cli import app
from fedrec.config import build_config, load_toml
from tests.data.fixtures import write_ml100k

runner = CliRunner()
SUMMARY_KEYS = {"hr@10", "ndcg@10", "recall@10", "mrr", "coverage@10", "diversity@10", "novelty@10"}


def _sets(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_overrides):
    out = tmp_path_factory.mktemp("runs") / "central"
    result = runner.invoke(app, ["train", "--quiet", "--out", str(out), *_sets(tiny_overrides)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_train_writes_the_run_directory(trained):
    out, output = trained
    for name in (
        "config.toml",
        "metrics.jsonl",
        "state.safetensors",
        "summary.json",
        "validation.png",
        "cold_users_curve.png",
    ):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    curve = summary["cold_users_curve"]  # the same cold users at 0, 1, 3 and 5 first clicks
    assert list(curve) == ["0", "1", "3", "5"]
    assert len({curve[c]["users"] for c in curve}) == 1 and curve["0"]["users"] > 0
    assert list(summary["cold_users_curve_no_profile"]) == list(curve)
    assert list(summary["baselines"]["ease"]["cold_users_curve"]) == list(curve)
    assert "cold users by first clicks known" in output
    for slice_name in ("test", "cold_items", "cold_users"):
        assert set(summary[slice_name]) >= SUMMARY_KEYS
    assert set(summary["scenarios"]) == {"ecommerce", "music", "news"}
    for base in ("popularity", "scenario-popularity", "ease", "itemknn", "zero-shot"):
        assert set(summary["baselines"][base]["test"]) >= SUMMARY_KEYS
        assert set(summary["baselines"][base]["scenarios"]) == set(summary["scenarios"])
        assert "cold_items" in summary["baselines"][base]
    # The printed per-scenario table: the model and every baseline, a row each.
    table = output[output.index("test NDCG@10 by scenario") :]
    assert all(name in table for name in ("ecommerce", "music", "news", "popularity", "ease"))
    epochs = [
        json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2]
    assert "full-ranking evaluation" in output


def test_evaluate_reads_and_recomputes(trained):
    out, _ = trained
    shown = runner.invoke(app, ["evaluate", str(out), "--json"])
    assert shown.exit_code == 0
    saved = json.loads(shown.stdout)
    again = runner.invoke(app, ["evaluate", str(out), "--json", "--recompute"])
    assert again.exit_code == 0, again.output
    # strict JSON: an undefined figure (a slice of one user has no standard error) is null
    recomputed = json.loads(again.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    # the saved best state, re-scored from scratch, gives the same numbers
    assert recomputed["test"]["ndcg@10"] == pytest.approx(saved["test"]["ndcg@10"], abs=1e-6)
    assert recomputed["test"]["ndcg@10_se"] == pytest.approx(saved["test"]["ndcg@10_se"])
    table = runner.invoke(app, ["evaluate", str(out)])
    assert f"±{saved['test']['ndcg@10_se']:.4f}" in table.stdout  # printed beside NDCG


def test_evaluate_json_writes_an_undefined_figure_as_null(trained, monkeypatch):
    out, _ = trained
    undefined = {"test": {"ndcg@10": 0.1, "ndcg@10_se": float("nan"), "users": 1}}
    monkeypatch.setattr("fedrec.runs.centralized.evaluate_run", lambda run: undefined)
    shown = runner.invoke(app, ["evaluate", str(out), "--json", "--recompute"])
    assert shown.exit_code == 0, shown.output
    parsed = json.loads(shown.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert parsed["test"] == {"ndcg@10": 0.1, "ndcg@10_se": None, "users": 1}


def test_a_finished_run_is_not_overwritten(trained, tiny_overrides):
    out, _ = trained
    before = (out / "summary.json").read_text()
    result = runner.invoke(app, ["train", "--out", str(out), *_sets(tiny_overrides)])
    assert result.exit_code == 2
    assert "--overwrite" in result.output
    assert (out / "summary.json").read_text() == before


def test_unknown_key_is_named(tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "x"), "--set", "learning-rate=1"])
    assert result.exit_code == 2
    assert "learning-rate" in result.output


def test_evaluate_on_a_non_run_directory(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_train_on_movielens_files(tmp_path, tiny_overrides):
    data = write_ml100k(tmp_path / "ml", n_users=30, n_items=40, per_user=12)
    out = tmp_path / "run"
    overrides = [
        *tiny_overrides,
        "dataset=movielens-100k",
        f"data-path={data}",
        "epochs=1",
        "baselines=popularity",
    ]
    result = runner.invoke(app, ["train", "--quiet", "--out", str(out), *_sets(overrides)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["scenarios"]) == ["movies"]
    assert summary["data"]["dataset"] == "movielens-100k"


def test_data_inspect_names_a_missing_file(tmp_path):
    result = runner.invoke(
        app,
        ["data", "inspect", "--set", "dataset=movielens-100k", "--set", f"data-path={tmp_path}"],
    )
    assert result.exit_code == 2
    assert "u.data" in result.output


def test_data_inspect_json(tmp_path):
    result = runner.invoke(
        app,
        [
            "data",
            "inspect",
            "--json",
            "--set",
            "synthetic-users=30",
            "--set",
            "synthetic-items-per-scenario=10",
        ],
    )
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["users"] == 30 and facts["items"] == 30


def test_simulation_configs_and_pyproject_defaults_are_valid():
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "simulations").glob("*.toml")):
        build_config(load_toml(path))  # raises on any unknown key or bad value
    app_config = load_toml(root / "pyproject.toml")
    from fedrec.config import APP_PRIVACY_DEFAULTS, Config

    assert app_config == Config().to_flat() | APP_PRIVACY_DEFAULTS, (
        "pyproject's [tool.flwr.app.config] drifted from the defaults"
    )
    assert app_config["privacy-mode"] == "local"  # `flwr run .` is private by default


def test_train_with_dp_sgd_reports_the_guarantee(tmp_path, tiny_overrides):
    out = tmp_path / "dp"
    overrides = [
        *tiny_overrides,
        "privacy-mode=local",
        "noise-multiplier=1.0",
        "baselines=popularity",
        "batch-size=32",
    ]
    result = runner.invoke(app, ["train", "--quiet", "--out", str(out), *_sets(overrides)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    privacy = summary["privacy"]
    assert privacy["mode"] == "local" and privacy["unit"] == "interaction"
    assert 0 < privacy["epsilon"] < float("inf")
    assert privacy["steps"] > 0 and privacy["delta"] < 1 / privacy["records"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["epsilon"] < records[1]["epsilon"]  # ε composes over epochs
    assert summary["validation"]["best_epoch"] == 2  # DP keeps the last epoch
    # The centralized run has a ledger too (one line per epoch), and it audits clean.
    result = runner.invoke(app, ["audit", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["centralized"] and report["lines"] == 3  # histogram + 2
    # Accounted by PLD in training, confirmed by the audit's independent PRV accountant.
    assert report["clients"][0]["accountant"] == "prv"
    assert report["clients"][0]["epsilon"] == pytest.approx(privacy["epsilon"], rel=0.03)
    assert report["clients"][0]["epsilon_rdp"] >= privacy["epsilon"]  # RDP: an upper bound
    assert "trained model" in report["guarantee"]


def test_splits_without_cold_items_or_users_report_undefined_slices(tmp_path, tiny_overrides):
    out = tmp_path / "warm"
    overrides = [
        *tiny_overrides,
        "cold-item-fraction=0",
        "cold-user-fraction=0",
        "epochs=1",
        "baselines=popularity",
    ]
    result = runner.invoke(app, ["train", "--quiet", "--out", str(out), *_sets(overrides)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cold_items"]["ndcg@10"] is None and summary["cold_items"]["users"] == 0
    assert summary["cold_users"]["users"] == 0
    assert summary["test"]["ndcg@10"] is not None


def test_recompute_rebuilds_a_missing_summary(trained, tmp_path):
    import shutil

    out, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "summary.json").unlink()
    result = runner.invoke(app, ["evaluate", str(copy), "--recompute", "--json"])
    assert result.exit_code == 0, result.output
    rebuilt = json.loads((copy / "summary.json").read_text())
    assert "popularity" in rebuilt["baselines"] and "ndcg@10" in rebuilt["test"]
