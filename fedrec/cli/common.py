"""What every command shares: the Typer app, the console, options, logging, errors."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from fedrec.notices import quiet_dependency_notices

app = typer.Typer(
    help="Federated, privacy-preserving recommendation with LoRA on BERT-family text models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Look at datasets before training on them.", no_args_is_help=True)
app.add_typer(data_app, name="data")
superlink_app = typer.Typer(
    help="A local Flower SuperLink for 'flwr run .' that uses this environment (no uv installs).",
    no_args_is_help=True,
)
app.add_typer(superlink_app, name="superlink")
deploy_app = typer.Typer(
    help="Deploy on Flower's Deployment Engine: certificates, node keys, a local demo.",
    no_args_is_help=True,
)
app.add_typer(deploy_app, name="deploy")
# Tables are wide: do not squeeze them to 80 columns when output is not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a key: --set KEY=VALUE (repeatable)."),
]
METRIC_ORDER = ("hr", "recall", "ndcg", "mrr", "coverage", "diversity", "novelty")


def setup(quiet: bool = False) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("httpx", "transformers", "urllib3", "filelock", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars: not fedrec's progress
    quiet_dependency_notices()
    # Flower prints through its own handler; keep its round-by-round chatter out of ours.
    flwr_log = logging.getLogger("flwr")
    flwr_log.propagate = False
    flwr_log.setLevel(logging.WARNING)


def fail(err: Exception) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(err))}")
    raise typer.Exit(code=2)
