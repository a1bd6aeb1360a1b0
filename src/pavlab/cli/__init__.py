"""The `pavlab` command line. Each pipeline stage registers its commands from its own module."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from pavlab.errors import PavlabError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="pavlab: process advantage verifiers — label, train, search and RL with progress rewards.")

stderr = Console(stderr=True)


@app.callback()
def _global_options(threads: int | None = typer.Option(
        None, "--threads", envvar="PAVLAB_THREADS", min=1,
        help="torch CPU threads for the command (default: torch's, one per core). On a machine other jobs share, "
             "use 1: with the cores busy, more threads ran SmolLM2 generation several times slower (BENCHMARKS.md)"
        )) -> None:
    """Options before the command name: `pavlab --threads 1 label ...`."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


COMMAND_MODULES = ("basics", "labeling", "rl", "verifiers", "verifier_export", "search", "provers", "studies", "demo",
                   "recipe", "data")


def _register_commands() -> None:
    """Import each stage's CLI module; importing registers its commands on `app`."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"pavlab.cli.{name}")


def main() -> None:
    """Entry point: user errors print one line and exit 2, never a traceback."""
    _register_commands()
    from transformers.utils import logging as hf_logging  # already imported by the commands

    # transformers' "Loading weights" bar on stderr would turn a one-line error after a load into three lines.
    hf_logging.disable_progress_bar()
    try:
        app()
    except PavlabError as exc:
        stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        stderr.print("interrupted; finished shards are kept, rerun the same command to resume")
        sys.exit(130)
