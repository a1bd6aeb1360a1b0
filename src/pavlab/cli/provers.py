"""`pavlab prover rank`: rank candidate provers by distinguishability + alignment, measured on existing labels."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Column, Table

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.io import read_json
from pavlab.provers.rank import PLOT_FILE, RankProversConfig, run_rank_provers

console = Console()
prover_app = typer.Typer(no_args_is_help=True, help="Provers: choose which policy's advantages to reward.")
app.add_typer(prover_app, name="prover")


def _fmt(estimate: dict[str, float]) -> str:
    return f"{estimate['value']:.3g} [{estimate['low']:.2g}, {estimate['high']:.2g}]"


@config_command(prover_app, "rank", RankProversConfig, section="prover_rank")
def rank_command(config: RankProversConfig) -> None:
    """Estimate both terms of the paper's policy-improvement bound per candidate prover, with bootstrap CIs.

    bok:K candidates reuse the Q^pi labels; a policy:PATH candidate needs --prover_labels policy:PATH=RUN_DIR.
    """
    path = run_rank_provers(config)
    ranking: list[dict[str, Any]] = read_json(path)["ranking"]
    table = Table(Column("prover", no_wrap=True), "distinguishability", "alignment", "sum", "P(best)", "steps",
                  "sibling states", title="ranked by distinguishability + alignment (95% bootstrap CI over problems)")
    for score in ranking:
        table.add_row(score["spec"], _fmt(score["distinguishability"]), _fmt(score["alignment"]),
                      _fmt(score["total"]), f"{score['p_best']:.2f}", str(score["transitions"]),
                      str(score["sibling_states"]))
    console.print(table)
    console.print(f"ranking in {path}, plot in {config.out / PLOT_FILE}")
