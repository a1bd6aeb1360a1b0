"""`pavlab search`: best-of-N, majority / weighted vote, and step-level beam search with PAV scores."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.io import read_json
from pavlab.search.run import SearchConfig, run_search

console = Console()
ROWS = (("problems", "problems", "d"), ("accuracy", "accuracy", ".3f"), ("pass@N", "pass_at_n", ".3f"),
        ("tokens generated / problem", "mean_generated_tokens", ".1f"),
        ("sequences sampled / problem", "mean_samples", ".1f"),
        ("prompt tokens / problem", "mean_prompt_tokens", ".1f"),
        ("verifier tokens / problem", "mean_verifier_tokens", ".1f"))


@config_command(app, "search", SearchConfig)
def search_command(config: SearchConfig) -> None:
    """Search a split with one method at budget N; per-problem JSONL shards (resumable) + summary.json."""
    summary_file = run_search(config)
    summary = read_json(summary_file)
    if summary["prover_choice"]:
        console.print(f"--prover auto chose {summary['prover_choice']}", highlight=False, markup=False)
    table = Table("metric", "value", title=f"{summary['method']} (score {summary['score']}), N = {summary['n']}")
    for label, key, fmt in ROWS:
        if key in summary:
            table.add_row(label, format(summary[key], fmt))
    console.print(table)
    console.print(f"results in {config.out / 'results'}, summary in {summary_file}")
