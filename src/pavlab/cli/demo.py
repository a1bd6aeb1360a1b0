"""`pavlab demo` and `pavlab report`: the whole chain on the testbeds, and its report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.demo import DemoConfig, run_demo
from pavlab.report.demo_report import write_report

console = Console()


@config_command(app, "demo", DemoConfig)
def demo_command(config: DemoConfig) -> None:
    """Shipped subset-sum testbed: label, train ORM/PRM/PAV, search study, planted RL study, then the report."""
    md_path = run_demo(config)
    console.print(f"[bold green]report:[/] {md_path}  (HTML: {md_path.with_suffix('.html')})")


@app.command("report")
def report_command(run_dir: Path = typer.Argument(..., help="a `pavlab demo` output folder")) -> None:
    """Regenerate report.md and report.html from a demo run's saved results."""
    md_path, html_path = write_report(run_dir)
    console.print(f"wrote {md_path} and {html_path}")
