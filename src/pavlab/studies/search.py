"""The accuracy-vs-compute study of test-time search: ORM best-of-N vs Q^pi beam vs PAV beam.

Why: the paper's headline for search is that PAV beam search (rank by Q^pi + alpha * A^mu) beats
best-of-N with an ORM and beam search with Q^pi alone at every budget N, is 1.5-5x more compute
efficient than ORM best-of-128 and 8-10% more accurate at equal compute. Compute is counted both
as tokens generated and as samples (the paper does not say which), with the C next-step samples
of every beam state included. Output in OUT: `cells/`, `search_study.{json,csv,md}`,
`accuracy_vs_n.png` and `accuracy_vs_tokens.png`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pavlab.studies.plots import plot_seed_curves
from pavlab.studies.search_cells import (
    SearchArm,
    SearchStudyBase,
    StudyRun,
    finish,
    pct,
    per_budget_table,
    run_budget_grid,
    section,
)
from pavlab.studies.search_efficiency import efficiency

KIND = "search_study"
# the ORM is the Q^pi model reading the last state
ARMS: dict[str, SearchArm] = {"orm_best_of_n": SearchArm("best_of_n", "q"), "q_beam": SearchArm("beam", "q"),
                        "pav_beam": SearchArm("beam", "q+a")}
COMPUTE_UNITS = {"tokens": "mean_generated_tokens", "samples": "mean_samples"}


class SearchStudyConfig(SearchStudyBase):
    """The shared search-study fields, as they are: three arms over `budgets` x `seeds` on `split`."""


def compute_efficiency(run: StudyRun, budgets: list[int], seeds: list[int], method: str,
                       baseline: str = "orm_best_of_n") -> dict[str, dict[str, Any]]:
    """`efficiency` of `method` over `baseline` on the seed-mean curves, per compute unit."""
    accuracy = {arm: run.mean_curve("accuracy", arm, budgets, seeds) for arm in (baseline, method)}
    return {unit: efficiency((run.mean_curve(key, baseline, budgets, seeds), accuracy[baseline]),
                             (run.mean_curve(key, method, budgets, seeds), accuracy[method]))
            for unit, key in COMPUTE_UNITS.items()}


def compute_ratio_text(result: dict[str, Any]) -> str:
    """'2.3x' / '>= 2.3x' / 'never matched' / 'n/a (baseline 0%)' for one `efficiency` result."""
    if result["bound"] == "trivial":
        return "n/a (baseline 0%)"
    if result["ratio"] is None:
        return "never matched"
    return f"{'>= ' if result['bound'] == 'at_least' else ''}{result['ratio']:.2f}x"


def markdown(run: StudyRun, summary: dict[str, Any], budgets: list[int], seeds: list[int], command: str) -> str:
    top = budgets[-1]
    final = summary["accuracy_at_largest_n"]
    pav, q_pav = summary["efficiency"]["pav_beam"], summary["efficiency_vs_q_beam"]
    claims = [
        (f"PAV beam vs ORM best-of-{top}: compute to match (tokens / samples)", "1.5-5x (text: 10x 2B/9B, 5x 27B)",
         f"{compute_ratio_text(pav['tokens'])} / {compute_ratio_text(pav['samples'])}"),
        (f"PAV beam accuracy gain over ORM at ORM best-of-{top}'s compute (tokens / samples)", "+8-10%",
         f"{pct(pav['tokens']['gain'])} / {pct(pav['samples']['gain'])}"),
        (f"PAV beam vs Q^pi beam at N={top}: compute to match (tokens)", "8x", compute_ratio_text(q_pav["tokens"])),
        (f"accuracy at N={top}: ORM best-of-N / Q^pi beam / PAV beam", "PAV beam highest",
         " / ".join(pct(final[arm]) for arm in ARMS)),
        ("budgets where PAV beam beats ORM best-of-N (seed mean)", "every N",
         f"{summary['pav_beats_orm_at']} of {len(budgets)}"),
    ]
    return section("Test-time search: accuracy vs compute", command, run, claims,
                   per_budget_table(run, list(ARMS), budgets, seeds))


def run_search_study(config: SearchStudyConfig, command: str = "pavlab study search-grid") -> Path:
    """Every (arm, N, seed) cell, the two accuracy-vs-compute figures, efficiency ratios and the Markdown section;
    returns the path of `search_study.json`."""
    budgets, seeds = sorted(set(config.budgets)), config.seeds
    title = f"test-time search (alpha={config.alpha})"
    run, means = run_budget_grid(config, KIND, ARMS, "accuracy", "accuracy_vs_n.png",
                                 xlabel="budget N (samples, or beam width)", title=title)
    plot_seed_curves(run.run_dir / "accuracy_vs_tokens.png",
                     {arm: (run.mean_curve("mean_generated_tokens", arm, budgets, seeds),
                            run.values("accuracy", arm, budgets, seeds)) for arm in ARMS},
                     xlabel="tokens generated per problem (seed mean)", ylabel="accuracy",
                     title=f"{title} on {run.task_name}, prover {run.prover}", logx=True)
    summary = {"accuracy_at_largest_n": {arm: curve[-1] for arm, curve in means.items()},
               "pav_beats_orm_at": sum(p > o for p, o in zip(means["pav_beam"], means["orm_best_of_n"],
                                                             strict=True)),
               "efficiency": {arm: compute_efficiency(run, budgets, seeds, arm) for arm in ("q_beam", "pav_beam")},
               "efficiency_vs_q_beam": compute_efficiency(run, budgets, seeds, "pav_beam", baseline="q_beam"),
               "figures": [str(run.run_dir / "accuracy_vs_n.png"), str(run.run_dir / "accuracy_vs_tokens.png")]}
    return finish(run, KIND, summary, markdown(run, summary, budgets, seeds, command))
