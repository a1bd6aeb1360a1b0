"""Exploration: Pass@N of the set a search explores, PAV beam vs Q^pi beam vs i.i.d. sampling.

Why: the paper argues that A^mu rewards steps that make progress, so beam search with the PAV
keeps more diverse, still-solvable prefixes and its final beams contain a correct answer more
often (higher Pass@N) than beam search with Q^pi, which exploits, or than N i.i.d. samples.
Output in OUT: `cells/`, `search_exploration.{json,csv,md}` and `pass_at_n.png`.
"""

from __future__ import annotations

from pathlib import Path

from pavlab.studies.search_cells import (
    SearchArm,
    SearchStudyBase,
    finish,
    pct,
    per_budget_table,
    run_budget_grid,
    section,
)

KIND = "search_exploration"
# i.i.d. sampling needs no scorer for Pass@N; majority vote is the method that reads none
ARMS: dict[str, SearchArm] = {"iid_sampling": SearchArm("majority"), "q_beam": SearchArm("beam", "q"),
                              "pav_beam": SearchArm("beam", "q+a")}


class ExplorationConfig(SearchStudyBase):
    """The shared search-study fields; the metric is Pass@N of every arm's explored set."""


def run_exploration_study(config: ExplorationConfig, command: str = "pavlab study search-exploration") -> Path:
    """Pass@N of every arm at every N x seed, the figure and the Markdown section; returns the path of
    `search_exploration.json`."""
    budgets, seeds = sorted(set(config.budgets)), config.seeds
    run, means = run_budget_grid(config, KIND, ARMS, "pass_at_n", "pass_at_n.png", xlabel="budget N",
                                 title=f"exploration (alpha={config.alpha})")
    wins = {rival: sum(p > r for p, r in zip(means["pav_beam"], means[rival], strict=True))
            for rival in ("q_beam", "iid_sampling")}
    summary = {"mean_pass_at_n": means, "pav_beam_higher_at": wins,
               "figures": [str(run.run_dir / "pass_at_n.png")]}
    top = budgets[-1]
    claims = [(f"Pass@N, PAV beam > Q^pi beam (N where it holds, of {len(budgets)})", "higher",
               str(wins["q_beam"])),
              (f"Pass@N, PAV beam > i.i.d. sampling (N where it holds, of {len(budgets)})", "higher",
               str(wins["iid_sampling"])),
              (f"Pass@{top}: i.i.d. / Q^pi beam / PAV beam", "PAV beam highest",
               " / ".join(pct(means[arm][-1]) for arm in ARMS))]
    return finish(run, KIND, summary, section("Test-time search: exploration (Pass@N)", command, run, claims,
                                              per_budget_table(run, list(ARMS), budgets, seeds, "pass_at_n")))
