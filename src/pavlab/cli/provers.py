"""`pavlab prover rank`: rank candidate provers by distinguishability + alignment, measured on existing labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import Field, field_validator
from rich.console import Console
from rich.table import Column, Table

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.config import Config
from pavlab.provers.rank import DEFAULT_CANDIDATES, PLOT_FILE, rank_provers, write_ranking
from pavlab.provers.terms import Interval

console = Console()
prover_app = typer.Typer(no_args_is_help=True, help="Provers: choose which policy's advantages to reward.")
app.add_typer(prover_app, name="prover")


class RankProversConfig(Config):
    labels: list[str] = Field(..., description="Q^pi labels of pi: `pavlab label` run folders, shard folders or files")
    candidates: list[str] = Field(list(DEFAULT_CANDIDATES), description="comma-separated bok:K / policy:PATH specs")
    prover_labels: list[str] = Field([], description="policy:PATH=RUN_DIR: labels rolled out by that policy "
                                     "(pavlab label --rollout_policy PATH); adds the candidate if missing")
    resamples: int = Field(200, ge=1, description="bootstrap resamples of problems")
    seed: int = 0
    use_first_pit: bool = Field(False, description="count first-pit rows' fresh steps as samples of pi")
    out: Path = Field(..., description="folder for ranking.json and ranking.png")

    @field_validator("labels", "candidates", "prover_labels", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _fmt(estimate: Interval) -> str:
    return f"{estimate.value:.3g} [{estimate.low:.2g}, {estimate.high:.2g}]"


@config_command(prover_app, "rank", RankProversConfig, section="prover_rank")
def rank_command(config: RankProversConfig) -> None:
    """Estimate both terms of the paper's policy-improvement bound per candidate prover, with bootstrap CIs.

    bok:K candidates reuse the Q^pi labels; a policy:PATH candidate needs --prover_labels policy:PATH=RUN_DIR.
    """
    scores = rank_provers(config.labels, config.candidates, config.prover_labels, config.resamples, config.seed,
                          config.use_first_pit)
    table = Table(Column("prover", no_wrap=True), "distinguishability", "alignment", "sum", "P(best)", "steps",
                  "sibling states", title="ranked by distinguishability + alignment (95% bootstrap CI over problems)")
    for score in scores:
        table.add_row(score.spec, _fmt(score.distinguishability), _fmt(score.alignment), _fmt(score.total),
                      f"{score.p_best:.2f}", str(score.transitions), str(score.sibling_states))
    console.print(table)
    path = write_ranking(scores, config.out, config.model_dump(mode="json"))
    console.print(f"ranking in {path}, plot in {config.out / PLOT_FILE}")
