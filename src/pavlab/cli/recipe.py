"""`pavlab recipe run`: every stage of a whole-chain recipe, in order (the stages are `pavlab.recipe.STAGES`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pavlab.cli import app
from pavlab.cli.common import OVERRIDE_SETTINGS
from pavlab.recipe import run_recipe

console = Console()
recipe_app = typer.Typer(no_args_is_help=True, help="Whole-chain recipes: run every stage in order, or a smoke run.")
app.add_typer(recipe_app, name="recipe")


@recipe_app.command("run", context_settings=OVERRIDE_SETTINGS)
def run_command(ctx: typer.Context,
                recipe: Path = typer.Argument(..., help="recipe YAML (see recipes/)"),
                stages: str | None = typer.Option(None, help="comma-separated subset, e.g. label,train_verifier "
                                                               "(default: every section, in pipeline order)"),
                smoke: bool = typer.Option(False, help="4 problems, a few tokens and steps, CPU, in-process: "
                                                       "checks the whole chain in minutes"),
                out: Path | None = typer.Option(None, help="write every stage under this folder (default: the "
                                                           "recipe's paths; with --smoke: runs/smoke/RECIPE)"),
                threads: int | None = typer.Option(None, min=1, help="torch CPU threads for every stage")) -> None:
    """Run a recipe's stages in order (testbed, sample, label, train_verifier, search, rl); finished ones skip.

    Extra --field value overrides apply to every stage that has the field (--seed 1), and
    --SECTION.field value to one stage (--label.n_mc 8). Rerun the same command to resume.
    """
    names = None if stages is None else [part.strip() for part in stages.split(",") if part.strip()]
    run_recipe(recipe, names, smoke=smoke, out=out, overrides=ctx.args, threads=threads,
               echo=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True))
