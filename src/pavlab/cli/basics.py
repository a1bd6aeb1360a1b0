"""Foundation commands: tasks, testbed policies, sampling and sample evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.metrics import load_samples, summarize_samples
from pavlab.policies.testbed import ShippedTestbedConfig, TestbedConfig, run_shipped_testbed, run_testbed
from pavlab.sampling import SampleConfig, run_sampling

console = Console()
tasks_app = typer.Typer(no_args_is_help=True, help="Built-in and user tasks.")
policy_app = typer.Typer(no_args_is_help=True, help="Policies: self-trained testbeds and checkpoints.")
app.add_typer(tasks_app, name="tasks")
app.add_typer(policy_app, name="policy")


@tasks_app.command("list")
def tasks_list() -> None:
    """List the tasks pavlab knows."""
    from pavlab.tasks.registry import TASK_DESCRIPTIONS

    table = Table("task", "what it is")
    for name, text in TASK_DESCRIPTIONS.items():
        table.add_row(name, text)
    console.print(table)


@config_command(policy_app, "train-testbed", TestbedConfig, section="testbed")
def train_testbed_command(config: TestbedConfig) -> None:
    """Train a ~1-3M parameter testbed policy from scratch by SFT on mixed-quality traces."""
    console.print(f"saved testbed policy to {run_testbed(config)}")


@config_command(policy_app, "shipped-testbed", ShippedTestbedConfig)
def shipped_testbed_command(config: ShippedTestbedConfig) -> None:
    """Copy the testbed policy that ships with pavlab (trained once by `train-testbed`; testbed.json says how)."""
    console.print(f"copied the shipped {config.task} testbed policy to {run_shipped_testbed(config)}")


@config_command(app, "sample", SampleConfig)
def sample_command(config: SampleConfig) -> None:
    """Sample n responses per problem from a policy; JSONL with correctness and token counts."""
    path = run_sampling(config)
    console.print(f"wrote {path}")


@app.command("eval")
def eval_command(file: Path = typer.Argument(..., help="JSONL written by `pavlab sample`"),
                 as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """pass@k (unbiased) and maj@k for k = 1, 2, 4 .. n from a sample file."""
    rows = load_samples(file)
    summary = summarize_samples(rows)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table("metric", "value", title=f"{file} ({summary['problems']} problems)")
    for key, value in summary.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
