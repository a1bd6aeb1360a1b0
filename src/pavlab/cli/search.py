"""`pavlab search`: best-of-N, majority / weighted vote, and step-level beam search with PAV scores."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.search.run import SearchConfig, run_search

console = Console()


@config_command(app, "search", SearchConfig)
def search_command(config: SearchConfig) -> None:
    """Search a split with one method at budget N; per-problem JSONL shards (resumable) + summary.json."""
    summary = run_search(config)
    table = Table("method", "score", "N", "problems", "accuracy", "pass@N", "tokens/problem", "samples/problem",
                  "verifier tokens/problem")
    table.add_row(summary["method"], str(summary["score"]), str(summary["n"]), str(summary["problems"]),
                  f"{summary.get('accuracy', 0.0):.3f}", f"{summary.get('pass_at_n', 0.0):.3f}",
                  f"{summary.get('mean_generated_tokens', 0.0):.1f}", f"{summary.get('mean_samples', 0.0):.1f}",
                  f"{summary.get('mean_verifier_tokens', 0.0):.1f}")
    console.print(table)
    console.print(f"results in {config.out / 'results'}, summary in {config.out / 'summary.json'}")
