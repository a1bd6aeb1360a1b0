"""`pavlab rl`: online RL with dense progress rewards (alpha = 0: outcome-only ORM-RL)."""

from __future__ import annotations

from rich.console import Console

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.rl.config import RLConfig

console = Console()


@config_command(app, "rl", RLConfig)
def rl_command(config: RLConfig) -> None:
    """REINFORCE on Q^pi + alpha * A^mu per step, with a value or leave-one-out baseline (resumable)."""
    from pavlab.rl.trainer import run_rl

    run_dir = run_rl(config)
    console.print(f"RL run in {run_dir} (metrics.jsonl, policy/, rl_summary.json)")
