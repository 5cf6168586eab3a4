"""The ``fedrec`` command line.

Configuration is a TOML file plus ``--set KEY=VALUE`` overrides, with the same
kebab-case keys as ``[tool.flwr.app.config]``. ``fedrec config`` lists them.
One module per command group; :mod:`.common` holds the app, :mod:`.format` the tables.
"""

from __future__ import annotations

import sys

from fedrec.cli import audit, data, deploy, runs, serve, superlink  # noqa: F401  (they register commands)
from fedrec.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
