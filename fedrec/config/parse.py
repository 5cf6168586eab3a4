"""Parsing: flat kebab-case keys from TOML files and ``--set`` overrides into a
:class:`~fedrec.config.sections.Config`, once, at the edge.

Unknown keys and values of the wrong type are a :class:`~fedrec.errors.ConfigError`
naming the key and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fedrec.config.sections import SECTIONS, Config, known_keys
from fedrec.errors import ConfigError


@functools.cache
def _hints(owner: type) -> dict[str, Any]:
    return typing.get_type_hints(owner)


def _field_type(f: dataclasses.Field[Any], owner: type) -> type:
    hints = _hints(owner)
    tp = hints[f.name]
    if isinstance(tp, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def _coerce(key: str, value: Any, tp: type) -> Any:
    """Turn a TOML value or a command-line string into the field's type."""
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on"}:
            return True
        if isinstance(value, str) and value.lower() in {"false", "0", "no", "off"}:
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}.")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}.")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}.") from None
    if tp is float:
        if isinstance(value, bool):  # float(True) is 1.0: a typo, not a number
            raise ConfigError(f"{key}: expected a number, got {value!r}.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}.") from None
        if math.isnan(number):  # passes every range check (all comparisons are false)
            raise ConfigError(f"{key}: expected a number, got {value!r}.")
        if math.isinf(number):  # passes a lower bound, and no key means "unbounded" by it
            raise ConfigError(f"{key}: expected a finite number, got {value!r}.")
        return number
    if tp is str:
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        if isinstance(value, bool):  # str(True) is "True": a path or a name, not a switch
            raise ConfigError(f'{key}: expected text, got {value!r} (quote it: {key} = "...").')
        return str(value)
    raise ConfigError(f"{key}: unsupported type {tp}.")  # pragma: no cover


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``KEY=VALUE`` strings from the command line."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, for example --set seed=1.")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A TOML document, or a ConfigError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist: check the --config path.")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{what} {path} is not valid TOML: {err}.") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte {err.object[err.start : err.start + 1]!r}): "
            "save it as UTF-8."
        ) from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file: top-level keys, or a ``[fedrec]`` table, or Flower's app config."""
    doc = read_toml(path)
    if "fedrec" in doc and isinstance(doc["fedrec"], dict):
        outside = sorted(k for k, v in doc.items() if k != "fedrec" and not isinstance(v, dict))
        if outside:
            raise ConfigError(
                f"config file {path}: {outside[:5]} are outside its [fedrec] table, so they "
                "would be ignored. Fix: move them under [fedrec] (or drop the table header)."
            )
        return dict(doc["fedrec"])
    app_cfg = doc.get("tool", {}).get("flwr", {}).get("app", {}).get("config")
    if isinstance(app_cfg, dict):
        return dict(app_cfg)
    return doc


def build_config(values: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> Config:
    """Build a :class:`Config` from flat kebab-case keys, rejecting unknown ones.

    Keys listed in ``ignore`` belong to another layer (e.g. federation keys) and
    are skipped here.
    """
    keys = known_keys()
    ignored = set(ignore)
    per_section: dict[str, dict[str, Any]] = {s.attr: {} for s in SECTIONS}
    for raw_key, value in values.items():
        key = str(raw_key).strip()
        if key in ignored:
            continue
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys) + list(ignored), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown config key {key!r}.{hint} Run 'fedrec config' to list the keys."
            )
        attr, f = keys[key]
        owner = next(s.cls for s in SECTIONS if s.attr == attr)
        coerced = _coerce(key, value, _field_type(f, owner))
        choices = f.metadata.get("choices")
        if choices and coerced not in choices:
            raise ConfigError(f"{key}={coerced!r} is not one of {list(choices)}.")
        per_section[attr][f.name] = coerced
    return Config(**{s.attr: s.cls(**per_section[s.attr]) for s in SECTIONS})


def resolve(config_file: str | Path | None, overrides: Iterable[str] = ()) -> Config:
    """The CLI's path: a TOML file (optional), then ``--set`` overrides on top."""
    values: dict[str, Any] = {}
    if config_file:
        values.update(load_toml(config_file))
    values.update(parse_overrides(overrides))
    return build_config(values)


def describe_keys() -> list[tuple[str, str, str]]:
    """(key, default, help) for every key, for ``fedrec config``."""
    rows = []
    for key, (_, f) in known_keys().items():
        default = f.default if f.default is not dataclasses.MISSING else ""
        rows.append((key, repr(default), str(f.metadata.get("help", ""))))
    return rows


def toml_value(value: Any) -> str:
    """A config value as TOML (strings as basic strings with JSON escapes), for the files
    and ``key=value`` arguments fedrec writes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))
