import re
from pathlib import Path

import pytest

from fedrec.config import Config, build_config, parse_layer_spec, resolve
from fedrec.errors import ConfigError


def test_defaults_round_trip_through_flat_keys():
    cfg = Config()
    assert build_config(cfg.to_flat()) == cfg


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"'lora-rnak'.*'lora-rank'"):
        build_config({"lora-rnak": 4})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match="epochs"):
        build_config({"epochs": "many"})
    with pytest.raises(ConfigError, match="use-profile"):
        build_config({"use-profile": "maybe"})


@pytest.mark.parametrize("key", ["cold-view-weight", "scenario-view-weight", "lr"])
@pytest.mark.parametrize("value", ["nan", float("nan")])
def test_not_a_number_is_refused_before_any_range_check(key, value):
    """NaN compares false with every bound, so a range check alone would let it train
    (a server could send it): it is refused where numbers are parsed."""
    with pytest.raises(ConfigError, match=rf"{key}: expected a number"):
        build_config({key: value})


@pytest.mark.parametrize("key", ["noise-multiplier", "target-epsilon", "lr", "max-grad-norm"])
@pytest.mark.parametrize("value", ["inf", "-inf", float("inf"), "1e999"])
def test_an_infinite_number_is_refused(key, value):
    """Infinity passes every lower bound (``noise-multiplier = inf`` would train on pure
    noise, ``target-epsilon = inf`` would read as a budget): no key means "unbounded"
    by it, so it is refused where numbers are parsed, with the key named."""
    with pytest.raises(ConfigError, match=rf"{key}: expected a finite number"):
        build_config({key: value})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("seed", -1, "seed=-1 must be >= 0"),  # numpy refused it mid-run
        ("threads", -1, "threads=-1 must be >= 0"),
        ("max-rows-per-epoch", -1, "max-rows-per-epoch=-1 must be >= 0"),
        ("weight-decay", -0.1, "weight-decay=-0.1 must be >= 0"),  # AdamW refused it mid-run
        ("lora-alpha", 0, "lora-alpha=0.0 must be > 0"),
        ("proximal-mu", -1, "proximal-mu=-1.0 must be >= 0"),
        ("synthetic-users", 0, "synthetic-users=0 must be >= 1"),
        ("synthetic-items-per-scenario", 4, "synthetic-items-per-scenario=4 must be >= 5"),
        ("synthetic-interactions-per-user", 2, "synthetic-interactions-per-user=2 must be >= 3"),
        ("ease-l2", "100,0", "ease-l2='100,0': give one or more positive numbers"),
        ("ease-l2", "inf", "ease-l2='inf': give one or more positive numbers"),
    ],
)
def test_a_value_out_of_range_is_refused_with_its_key(key, value, message):
    """Each bound is checked where the config is parsed, naming the key as the user
    wrote it, not deep in a run (a traceback from numpy or the optimizer)."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config({key: value})
    edge = {"seed": 0, "threads": 0, "max-rows-per-epoch": 0, "weight-decay": 0.0}
    if key in edge:  # the bound itself is allowed
        build_config({key: edge[key]})


def test_choice_is_checked():
    with pytest.raises(ConfigError, match="privacy-unit"):
        build_config({"privacy-unit": "household"})


def test_a_cold_tower_needs_a_history_window_longer_than_its_own():
    with pytest.raises(ConfigError, match=r"max-history=5.*Set max-history above 5"):
        build_config({"cold-head": True, "max-history": 5})
    assert build_config({"cold-head": True, "max-history": 6}).model.cold_head
    assert build_config({"max-history": 5}).data.max_history == 5  # only with a cold tower


def test_real_dataset_without_path_fails_with_the_fix():
    with pytest.raises(ConfigError, match="data-path"):
        build_config({"dataset": "movielens-100k"})


def test_overrides_win_over_the_file(tmp_path: Path):
    path = tmp_path / "run.toml"
    path.write_text('epochs = 3\nlora-rank = 4\nbackbone = "x"\n')
    cfg = resolve(path, ["epochs=5"])
    assert cfg.train.epochs == 5
    assert cfg.model.lora_rank == 4
    assert cfg.model.backbone == "x"


def test_flower_app_config_table_is_read(tmp_path: Path):
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.flwr.app.config]\nseed = 7\n")
    assert resolve(path).train.seed == 7


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        resolve(None, ["epochs"])


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("top-2", [4, 5]), ("all", [0, 1, 2, 3, 4, 5]), ("1, 3", [1, 3])],
)
def test_layer_spec(spec, expected):
    assert parse_layer_spec(spec, num_layers=6) == expected


@pytest.mark.parametrize("spec", ["top-0", "top-9", "7", "x", ""])
def test_bad_layer_spec(spec):
    with pytest.raises(ConfigError, match="lora-layers"):
        parse_layer_spec(spec, num_layers=6)


def test_keys_outside_the_fedrec_table_are_refused_not_ignored(tmp_path):
    from fedrec.config import load_toml

    path = tmp_path / "c.toml"
    path.write_text("epochs = 3\nlr = 5\n[fedrec]\nseed = 1\n")
    with pytest.raises(ConfigError, match=r"\['epochs', 'lr'\] are outside its \[fedrec\] table"):
        load_toml(path)
    path.write_bytes("[fedrec]\nname = 'caf\xe9'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_toml(path)


def test_a_boolean_is_not_read_as_a_number_or_a_text():
    with pytest.raises(ConfigError, match="lr: expected a number, got True"):
        build_config({"lr": True})
    with pytest.raises(ConfigError, match="data-path: expected text, got True"):
        build_config({"data-path": True})
    assert build_config({"ease-l2": 100}).eval.ease_l2 == "100"
