"""`pavlab label`: Monte Carlo value labels for verifier training."""

from __future__ import annotations

from rich.console import Console

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.labeling.run import LabelConfig, run_labeling

console = Console()


@config_command(app, "label", LabelConfig)
def label_command(config: LabelConfig) -> None:
    """Sample seed responses and label every prefix with Q_hat from n_mc rollouts (resumable)."""
    run_dir = run_labeling(config)
    console.print(f"labels in {run_dir / 'labels'}")
