"""A tiny trained run (user-level local DP) and its serving bundle, shared by the serving tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedrec.cli import app

DP = ["privacy-mode=local", "privacy-unit=user", "target-epsilon=8"]


def sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.fixture(scope="session")
def dp_run(tmp_path_factory: pytest.TempPathFactory, tiny_overrides: list[str]) -> Path:
    out = tmp_path_factory.mktemp("serving") / "run"
    result = CliRunner().invoke(
        app, ["train", "--quiet", "--out", str(out), *sets([*tiny_overrides, *DP])]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def bundle_dir(dp_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fedrec.serving.bundle import export_bundle

    return export_bundle(dp_run, tmp_path_factory.mktemp("serving") / "bundle")


@pytest.fixture
def fresh_bundle(bundle_dir: Path, tmp_path: Path) -> Path:
    """A copy of the bundle a test may change (added items)."""
    return Path(shutil.copytree(bundle_dir, tmp_path / "bundle"))


@pytest.fixture(scope="session")
def recommender(bundle_dir: Path):
    """A read-only recommender over the shared bundle (tests must not add items to it)."""
    from fedrec.serving import Recommender

    return Recommender.load(bundle_dir)


CLICKS = 2  # the routed bundle's cold-start model answers at most this many known items


def train_run(tmp_path_factory, tiny_overrides, name: str, *extra: str) -> Path:
    """A tiny trained run (user-level local DP) with ``extra`` overrides."""
    out = tmp_path_factory.mktemp("cold-route") / name
    result = CliRunner().invoke(
        app, ["train", "--quiet", "--out", str(out), *sets([*tiny_overrides, *DP, *extra])]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def cold_run(tmp_path_factory, tiny_overrides) -> Path:
    """A run on the same data, trained on each user's first items."""
    return train_run(
        tmp_path_factory,
        tiny_overrides,
        "cold",
        "short-history-share=0.5",
        "short-history-from=first",
        "target-epsilon=4",
    )


@pytest.fixture(scope="session")
def routed(dp_run, cold_run, tmp_path_factory) -> Path:
    """The shared run's bundle with ``cold_run`` answering requests knowing <= CLICKS items."""
    from fedrec.serving.bundle import export_bundle

    out = tmp_path_factory.mktemp("cold-route") / "bundle"
    return export_bundle(dp_run, out, cold_run=cold_run, cold_clicks=CLICKS)
